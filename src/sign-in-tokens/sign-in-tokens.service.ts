import { randomBytes } from 'node:crypto'
import type { Db } from '../platform/db/db.js'
import type { Clock } from '../platform/clock.js'
import type { Instance } from '../instance/instance.schemas.js'
import type { UserStore } from '../users/users.store.js'
import { newId } from '../platform/ids.js'
import { notFound, paramError } from '../platform/errors.js'
import { sha256 } from '../platform/secrets.js'
import { signInTokenStore, type SignInTokenRow } from './sign-in-tokens.store.js'
import { recordAudit } from '../platform/audit/audit.js'

/** Clerk's default lifetime of a sign-in token: 30 days. */
export const DEFAULT_EXPIRES_IN_SECONDS = 30 * 24 * 60 * 60
/** Foyer's longest: ten years, so the expiry stays a sane timestamp. */
export const MAX_EXPIRES_IN_SECONDS = 10 * 365 * 24 * 60 * 60

/**
 * A sign-in token starts with `sit.`: an invitation ticket is a bare base64url HMAC and never
 * holds a dot, so the Frontend API knows which kind a ticket is without looking either up.
 * The rest is 32 random bytes.
 */
export const SIGN_IN_TOKEN_PREFIX = 'sit.'
export const isSignInToken = (ticket: string) => ticket.startsWith(SIGN_IN_TOKEN_PREFIX)
export const signInTokenHash = (token: string) => sha256(token)

export interface CreatedSignInToken { row: SignInTokenRow; token: string }

export function createSignInTokenService(deps: { db: Db; clock: Clock; users: UserStore}) {
  const { db, clock } = deps
  return {
    async create(instance: Instance, body: { user_id: string; expires_in_seconds?: number | null }): Promise<CreatedSignInToken> {
      const seconds = body.expires_in_seconds ?? DEFAULT_EXPIRES_IN_SECONDS
      if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_EXPIRES_IN_SECONDS) {
        throw paramError(422, 'form_param_value_invalid', 'expires_in_seconds', 'is invalid',
          `expires_in_seconds must be a whole number of seconds from 1 to ${MAX_EXPIRES_IN_SECONDS}.`)
      }
      const user = await deps.users.findById(db, instance.id, body.user_id)
      if (!user) throw notFound('user')
      const now = clock.now(instance)
      const token = SIGN_IN_TOKEN_PREFIX + randomBytes(32).toString('base64url')
      // The token itself is never recorded: the record names the user it signs in.
      const row = await db.transaction(async (tx) => {
        const inserted = await signInTokenStore.insert(tx, {
          id: newId('sit', now), instance_id: instance.id, user_id: user.id, token_hash: signInTokenHash(token),
          status: 'pending', expires_at: now + seconds * 1000, created_at: now, updated_at: now,
        })
        await recordAudit(tx, { instanceId: instance.id, action: 'sign_in_token.created', target: { type: 'sign_in_token', id: inserted.id, label: user.id } }, clock.now())
        return inserted
      })
      return { row, token }
    },

    async revoke(instance: Instance, id: string): Promise<SignInTokenRow> {
      const result = await db.transaction(async (tx) => {
        const revoked = await signInTokenStore.revoke(tx, instance.id, id, clock.now(instance))
        if (revoked?.changed) await recordAudit(tx, { instanceId: instance.id, action: 'sign_in_token.revoked', target: { type: 'sign_in_token', id, label: revoked.row.user_id } }, clock.now())
        return revoked
      })
      if (!result) throw notFound('sign-in token')
      if (!result.changed) {
        throw paramError(400, 'sign_in_token_cannot_be_revoked', 'sign_in_token_id', 'cannot be revoked',
          `This sign-in token is ${result.row.status}: only a pending one can be revoked.`)
      }
      return result.row
    },

  }
}

export type SignInTokenService = ReturnType<typeof createSignInTokenService>
