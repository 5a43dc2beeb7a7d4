import { ApiError } from '../platform/errors.js'
import type { UserLockout } from '../instance/instance.schemas.js'
import type { UserRow } from './users.store.js'

/** Whole seconds until the lock ends, or null when the user is not locked at `now`. */
export function lockoutExpiresInSeconds(user: Pick<UserRow, 'locked_until'>, now: number): number | null {
  return user.locked_until !== null && user.locked_until > now ? Math.ceil((user.locked_until - now) / 1000) : null
}

/** Wrong passwords left before the account locks; null when lockout is off (as Clerk's User says). */
export function attemptsRemaining(user: Pick<UserRow, 'failed_sign_ins'>, lockout: UserLockout): number | null {
  return lockout.enabled ? Math.max(0, lockout.max_attempts - user.failed_sign_ins) : null
}

/**
 * The one check every sign-in passes, whatever the route (hosted pages, Frontend API, tickets,
 * emailed codes): 403 `user_banned` for a banned user, 403 `not_allowed_access` for one whose
 * address is on the blocklist (`blocked`), 403 `user_locked` (with the seconds left in `meta`)
 * for a locked one. Session creation calls it with the user's row as committed.
 */
export function assertMaySignIn(user: Pick<UserRow, 'banned' | 'locked_until'> & { blocked?: boolean }, now: number): void {
  if (user.banned) {
    throw new ApiError(403, 'user_banned', 'Your account is banned.', 'This account is banned and cannot sign in. Contact the application\'s administrators.')
  }
  if (user.blocked) {
    throw new ApiError(403, 'not_allowed_access', 'You are not allowed to access this application.',
      'This account\'s email address is on the application\'s blocklist, so it cannot sign in. Contact the application\'s administrators.')
  }
  const seconds = lockoutExpiresInSeconds(user, now)
  if (seconds !== null) {
    throw new ApiError(403, 'user_locked', 'Your account is locked.',
      `This account is locked after too many failed attempts or by an administrator. Try again in ${Math.ceil(seconds / 60)} minute${seconds > 60 ? 's' : ''}.`,
      { lockout_expires_in_seconds: seconds })
  }
}
