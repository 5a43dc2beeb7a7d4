import type { Db } from '../platform/db/db.js'
import { recordAudit } from '../platform/audit/audit.js'
import type { Clock } from '../platform/clock.js'
import { ApiError, paramError } from '../platform/errors.js'
import { clientKey } from '../platform/rate-limit.js'
import { seal, sha256, unseal } from '../platform/secrets.js'
import type { SignInThrottle } from '../accept/sign-in-throttle.js'
import type { DashboardService, Operator, SessionClient } from './dashboard.service.js'
import { createOperatorSecurityStore, type OperatorSecurityStore, type OperatorTotpRow } from './operator-security.store.js'
import { matchTotp, newRecoveryCodes, newTotpSecret, normalizeRecoveryCode, totpUri } from './totp.js'

/** How long the step between a correct password and a correct code may take. */
export const SIGN_IN_CHALLENGE_TTL_MS = 5 * 60 * 1000
// A challenge dies after this many wrong codes: a fresh one needs the password again, and
// password and code failures are both throttled per operator and per IP.
const CHALLENGE_MAX_FAILURES = 5
// Counters of wrong codes, apart from wrong passwords' so that neither uses up the other's budget.
const CODE_THROTTLE_SCOPE = 'dashboard-code'

/**
 * Whether `operator` may change dashboard-wide security settings (requiring one-time codes of
 * everyone). Every operator may until operators have roles; then this is the one line to change.
 */
export function canManageSecurity(_operator: Operator): boolean {
  return true
}

/**
 * Whether every page but enrolment is closed to an operator: codes are required and theirs
 * are off. Also asked by operator-only pages outside the dashboard (the development mailbox).
 */
export function enrolmentGate(db: Db, store: OperatorSecurityStore = createOperatorSecurityStore()) {
  return async (operator: Operator): Promise<boolean> => {
    if (!await store.requireTotp(db)) return false
    const row = await store.findOperator(db, operator.id)
    return row?.totp_enabled_at == null
  }
}

// Bound into the sealed secret: a sealed value copied onto another operator's row does not open.
const sealContext = (operatorId: string) => `operator totp:${operatorId}`

export interface OperatorSessionView {
  id: string
  createdAt: number
  lastSeenAt: number | null
  expiresAt: number
  ip: string | null
  userAgent: string | null
  current: boolean
}

interface Deps {
  db: Db
  clock: Clock
  serverSecret: Buffer
  dashboard: Pick<DashboardService, 'startSession' | 'confirmPassword'>
  /** Counts wrong codes per operator and per IP, shared through Redis when there is one. */
  throttle: SignInThrottle
  store?: OperatorSecurityStore
}

const operatorTarget = (operator: Operator) => ({ type: 'operator', id: operator.id, label: operator.emailAddress })

const codeIncorrect = () => paramError(422, 'form_code_incorrect', 'code', 'is incorrect',
  'That code is not right, or was used already. Enter the current code from your authenticator app, or one of your recovery codes.')
const challengeGone = () => new ApiError(401, 'signed_out', 'sign-in expired',
  'This sign-in took too long or had too many wrong codes. Sign in with your password again.')

export function createOperatorSecurityService({ db, clock, serverSecret, dashboard, throttle, store = createOperatorSecurityStore() }: Deps) {
  async function operatorRow(operator: Operator): Promise<OperatorTotpRow> {
    const row = await store.findOperator(db, operator.id)
    if (!row) throw new ApiError(401, 'signed_out', 'signed out', 'Your operator account no longer exists.')
    return row
  }

  const secretOf = (row: OperatorTotpRow): string | null => row.totp_secret && unseal(serverSecret, row.totp_secret, sealContext(row.id))

  /**
   * Checks a one-time code or, failing that shape, a recovery code, and uses it up: a TOTP
   * time step is accepted once (so is any step before it), a recovery code once. Wrong
   * answers count per operator and IP (429 past the limit).
   */
  async function useCode(row: OperatorTotpRow, code: string, ip: string | null): Promise<'totp' | 'recovery'> {
    const attempt = await throttle.begin({ instanceId: CODE_THROTTLE_SCOPE, identifier: row.id, ip: ip ? `${CODE_THROTTLE_SCOPE}:${clientKey(ip)}` : null })
    const given = code.replace(/\s/g, '')
    const secret = secretOf(row)
    if (!secret || row.totp_enabled_at == null) throw codeIncorrect()
    const step = matchTotp(secret, given, clock.now())
    const used = step !== null
      ? await store.useTotpStep(db, row.id, step) && 'totp' as const
      : !/^\d+$/.test(given) && given.length > 0 && await store.useRecoveryCode(db, row.id, sha256(normalizeRecoveryCode(given)), clock.now()) && 'recovery' as const
    if (!used) throw codeIncorrect()
    await attempt.succeeded()
    return used
  }

  return {
    /** What the Account page shows about the operator's one-time codes. */
    async status(operator: Operator): Promise<{ totpEnabled: boolean; recoveryCodesLeft: number; requireTotp: boolean }> {
      const row = await operatorRow(operator)
      return {
        totpEnabled: row.totp_enabled_at != null,
        recoveryCodesLeft: row.totp_enabled_at != null ? await store.unusedRecoveryCodes(db, row.id) : 0,
        requireTotp: await store.requireTotp(db),
      }
    },

    /** Whether every page but enrolment is closed to this operator: codes are required and theirs are off. */
    mustEnrol: enrolmentGate(db, store),

    /**
     * A new secret awaiting its first code, replacing any earlier unconfirmed one. 409 while
     * codes are on: a new secret takes turning them off first (password and code).
     */
    async startEnrolment(operator: Operator): Promise<{ secret: string; uri: string }> {
      const secret = newTotpSecret()
      if (!await store.startTotp(db, operator.id, seal(serverSecret, secret, sealContext(operator.id)), clock.now())) {
        throw new ApiError(409, 'duplicate_record', 'already enabled', 'One-time codes are already on for your account. Turn them off first to set up another app.')
      }
      return { secret, uri: totpUri(secret, operator.emailAddress) }
    },

    /** The secret awaiting confirmation, to show again beside a refused code; null when none is. */
    async pendingEnrolment(operator: Operator): Promise<{ secret: string; uri: string } | null> {
      const row = await operatorRow(operator)
      const secret = row.totp_enabled_at == null ? secretOf(row) : null
      return secret ? { secret, uri: totpUri(secret, operator.emailAddress) } : null
    },

    /**
     * Turns codes on once the app shows a current code, and answers ten recovery codes: shown
     * this once, stored only hashed. The code's step is recorded, so it cannot sign in again.
     */
    async confirmEnrolment(operator: Operator, code: string, ip: string | null): Promise<{ recoveryCodes: string[] }> {
      const attempt = await throttle.begin({ instanceId: CODE_THROTTLE_SCOPE, identifier: operator.id, ip: ip ? `${CODE_THROTTLE_SCOPE}:${clientKey(ip)}` : null })
      const row = await operatorRow(operator)
      const secret = row.totp_enabled_at == null ? secretOf(row) : null
      if (!secret) throw new ApiError(409, 'verification_failed', 'no enrolment', 'There is no set-up waiting for a code. Start setting up one-time codes again.')
      const step = matchTotp(secret, code.replace(/\s/g, ''), clock.now())
      if (step === null) {
        throw paramError(422, 'form_code_incorrect', 'code', 'is incorrect', 'That code is not right. Enter the 6-digit code your authenticator app shows now.')
      }
      await attempt.succeeded()
      const recoveryCodes = newRecoveryCodes()
      const enabled = await db.transaction(async (tx) => {
        const now = clock.now()
        if (!await store.enableTotp(tx, operator.id, step, now)) return false
        await store.replaceRecoveryCodes(tx, operator.id, recoveryCodes.map((c) => sha256(normalizeRecoveryCode(c))), now)
        await recordAudit(tx, { instanceId: null, action: 'operator.totp_enabled', target: operatorTarget(operator) }, now)
        return true
      })
      if (!enabled) throw new ApiError(409, 'duplicate_record', 'already enabled', 'One-time codes are already on for your account.')
      return { recoveryCodes }
    },

    /**
     * Turns codes off, with the password and a current code (or a recovery code): a stolen
     * session alone cannot. Refused while the dashboard requires codes of everyone.
     */
    async disable(operator: Operator, input: { password: string; code: string; ip: string | null }): Promise<void> {
      if (await store.requireTotp(db)) {
        throw new ApiError(409, 'not_allowed_access', 'codes required', 'This dashboard requires one-time codes of every operator, so yours cannot be turned off.')
      }
      await dashboard.confirmPassword(operator, input.password, input.ip)
      const row = await operatorRow(operator)
      if (row.totp_enabled_at == null) return
      await useCode(row, input.code, input.ip)
      await db.transaction(async (tx) => {
        await store.disableTotp(tx, operator.id, clock.now())
        await recordAudit(tx, { instanceId: null, action: 'operator.totp_disabled', target: operatorTarget(operator) }, clock.now())
      })
    },

    /** The operator a sign-in challenge is for, or null once it expired, completed or failed too often. */
    async challenge(token: string | null): Promise<Operator | null> {
      if (!token) return null
      const row = await store.findChallenge(db, sha256(token), clock.now())
      const operator = row && await store.findOperator(db, row.operator_id)
      return operator ? { id: operator.id, emailAddress: operator.email_address } : null
    },

    /**
     * The second step of signing in: a current code or an unused recovery code turns the
     * challenge into a session. 401 when the challenge is gone (too old, too many wrong codes),
     * 422 naming `code` for a wrong code, 429 past the throttle.
     */
    async completeSignIn(token: string | null, code: string, client: SessionClient): Promise<{ operator: Operator; sessionToken: string; used: 'totp' | 'recovery' }> {
      if (!token) throw challengeGone()
      const hash = sha256(token)
      const challenge = await store.findChallenge(db, hash, clock.now())
      const row = challenge && await store.findOperator(db, challenge.operator_id)
      if (!row) throw challengeGone()
      let used: 'totp' | 'recovery'
      try {
        used = await useCode(row, code, client.ip)
      } catch (err) {
        if (err instanceof ApiError && err.status === 422) await store.failChallenge(db, hash, CHALLENGE_MAX_FAILURES)
        throw err
      }
      // Taken only now, and guarded: two correct answers racing make one session.
      if (!await store.takeChallenge(db, hash, clock.now())) throw challengeGone()
      return { operator: { id: row.id, emailAddress: row.email_address }, sessionToken: await dashboard.startSession({ id: row.id, emailAddress: row.email_address }, client), used }
    },

    /** Requires one-time codes of every operator, or stops requiring them. */
    async setRequireTotp(operator: Operator, value: boolean): Promise<void> {
      if (!canManageSecurity(operator)) throw new ApiError(403, 'not_allowed_access', 'not allowed', 'Your role cannot change the dashboard\'s security settings.')
      if (value && (await operatorRow(operator)).totp_enabled_at == null) {
        // Otherwise the operator turning it on would be the first one shut out.
        throw new ApiError(409, 'not_allowed_access', 'codes off', 'Turn on one-time codes for your own account first.')
      }
      await db.transaction(async (tx) => {
        await store.setRequireTotp(tx, value, clock.now())
        await recordAudit(tx, { instanceId: null, action: value ? 'dashboard.totp_required' : 'dashboard.totp_not_required', changedKeys: ['require_totp'] }, clock.now())
      })
    },

    /** The operator's live sessions, newest first, the one `currentToken` belongs to marked. */
    async listSessions(operator: Operator, currentToken: string | null): Promise<OperatorSessionView[]> {
      const current = currentToken ? sha256(currentToken) : null
      return (await store.listSessions(db, operator.id, clock.now())).map((s) => ({
        id: s.id, createdAt: s.created_at, lastSeenAt: s.last_seen_at, expiresAt: s.expires_at, ip: s.ip, userAgent: s.user_agent, current: s.token_hash === current,
      }))
    },

    /** Ends one of the operator's own sessions (404 for any other id); says whether it was this one. */
    async endSession(operator: Operator, id: string, currentToken: string | null): Promise<{ wasCurrent: boolean }> {
      const sessions = await store.listSessions(db, operator.id, clock.now())
      const target = sessions.find((s) => s.id === id)
      const ended = target && await db.transaction(async (tx) => {
        if (!await store.deleteSessionById(tx, operator.id, id)) return false
        await recordAudit(tx, { instanceId: null, action: 'operator.session_ended', target: { type: 'operator_session', id } }, clock.now())
        return true
      })
      if (!target || !ended) throw new ApiError(404, 'resource_not_found', 'not found', 'That session has ended already, or is not yours.')
      return { wasCurrent: currentToken !== null && target.token_hash === sha256(currentToken) }
    },

    /** Ends every session of the operator but this one; answers how many ended. */
    async endOtherSessions(operator: Operator, currentToken: string | null): Promise<number> {
      return db.transaction(async (tx) => {
        const ended = await store.deleteOtherSessions(tx, operator.id, currentToken ? sha256(currentToken) : null)
        if (ended > 0) await recordAudit(tx, { instanceId: null, action: 'operator.other_sessions_ended', target: operatorTarget(operator) }, clock.now())
        return ended
      })
    },
  }
}

export type OperatorSecurityService = ReturnType<typeof createOperatorSecurityService>
