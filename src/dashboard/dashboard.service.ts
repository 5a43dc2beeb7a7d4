import { randomBytes } from 'node:crypto'
import type { Db, Queryable } from '../platform/db/db.js'
import { DAY_MS, type Clock } from '../platform/clock.js'
import { isInstanceId, ksuid } from '../platform/ids.js'
import { recordAudit } from '../platform/audit/audit.js'
import { sha256 } from '../platform/secrets.js'
import { clientKey } from '../platform/rate-limit.js'
import { ApiError, paramError } from '../platform/errors.js'
import { normalizeEmail } from '../platform/validation.js'
import { checkPassword, dummyHash, hashPassword, verifyPassword } from '../users/passwords.js'
import { createSignInThrottle, memoryCounter, type SignInThrottle } from '../accept/sign-in-throttle.js'
import { toInstance, type Instance } from '../instance/instance.schemas.js'
import type { InstanceService } from '../instance/instance.service.js'
import { createDashboardStore, type DashboardStore } from './dashboard.store.js'
import { createOperatorSecurityStore, type OperatorSecurityStore } from './operator-security.store.js'
import { SIGN_IN_CHALLENGE_TTL_MS } from './operator-security.service.js'

/** A signed-in operator, as the dashboard's pages see them. */
export interface Operator {
  id: string
  emailAddress: string
}

interface Deps {
  db: Db
  clock: Clock
  instances: Pick<InstanceService, 'create'>
  store?: DashboardStore
  /** Counts failed sign-ins; per process unless the caller shares counters (Redis). */
  throttle?: SignInThrottle
  security?: OperatorSecurityStore
}

/** Where a session was started from, shown on the Account page to tell sessions apart. */
export interface SessionClient {
  ip: string | null
  userAgent: string | null
}

// Last seen is written at most this often per session: a write per page view would cost more than it tells.
const LAST_SEEN_RESOLUTION_MS = 60_000

// An operator session reaches every instance's data and keys, so it lasts a working day,
// not the month an end user's session may.
export const OPERATOR_SESSION_TTL_MS = 12 * 60 * 60 * 1000
// A setup link is printed at every start while no operator exists; an old one stays valid for
// a day so that a restart does not break a link already handed to the person setting up.
const SETUP_TOKEN_TTL_MS = DAY_MS
const INSTANCE_NAME_MAX = 100
// The throttle keys accounts by instance; operators belong to none.
const THROTTLE_SCOPE = 'dashboard'

const newToken = () => randomBytes(32).toString('base64url')

const setupInvalid = () => new ApiError(404, 'resource_not_found', 'not found',
  'This setup link is not valid: it was already used, it expired, or an operator account exists already. Sign in instead, or restart Foyer for a new link while no operator exists.')

const operatorExists = () => new ApiError(409, 'duplicate_record', 'an operator exists already',
  'An operator account exists already: sign in to the dashboard with it. Only the first operator is created this way.')

/**
 * The first operator account: the one way an operator comes to exist, whether through a setup
 * link (`setupToken`, consumed) or headless, from the command line (no token). Taken under the
 * setup lock, so that two setups at once make one operator; every unused setup link is closed
 * with it. 404 for a bad token, or when an operator exists already through a link; 409
 * without one; 422 for an invalid email address or password.
 */
export async function createFirstOperator(
  { db, clock, store = createDashboardStore() }: { db: Db; clock: Clock; store?: DashboardStore },
  input: { emailAddress: string; password: string },
  options: { setupToken?: string; startSession?: (q: Queryable, operatorId: string) => Promise<string> } = {},
): Promise<{ operator: Operator; sessionToken: string }> {
  const emailAddress = normalizeEmail(input.emailAddress, 'email_address')
  checkPassword(input.password)
  const passwordHash = await hashPassword(input.password)
  const viaLink = options.setupToken !== undefined
  return db.transaction(async (tx) => {
    await store.lockSetup(tx)
    if (await store.hasOperator(tx)) throw viaLink ? setupInvalid() : operatorExists()
    const now = clock.now()
    if (viaLink && !await store.useSetupToken(tx, sha256(options.setupToken!), now)) throw setupInvalid()
    const row = await store.insertOperator(tx, { id: `op_${ksuid(now)}`, email_address: emailAddress, password_hash: passwordHash, created_at: now, updated_at: now })
    await store.closeSetup(tx, now)
    const sessionToken = options.startSession ? await options.startSession(tx, row.id) : ''
    return { operator: { id: row.id, emailAddress: row.email_address }, sessionToken }
  })
}

export function createDashboardService({ db, clock, instances, store = createDashboardStore(), throttle, security = createOperatorSecurityStore() }: Deps) {
  const signInThrottle = throttle ?? createSignInThrottle({ counter: memoryCounter(() => clock.now()) })

  /** A new session, recorded in the audit log by the same transaction `q` (the sign-in page is open to anyone: the operator is named as who acts). */
  async function startSession(q: Queryable, operator: { id: string; emailAddress: string | null }, client?: SessionClient): Promise<string> {
    const token = newToken()
    const now = clock.now()
    const id = `opss_${ksuid(now)}`
    await store.insertSession(q, {
      token_hash: sha256(token), operator_id: operator.id, created_at: now, expires_at: now + OPERATOR_SESSION_TTL_MS,
      id, ip: client?.ip ?? null, user_agent: client?.userAgent?.slice(0, 400) ?? null,
    })
    await recordAudit(q, {
      instanceId: null, action: 'operator.signed_in', target: { type: 'operator_session', id },
      actor: { type: 'operator', id: operator.id, label: operator.emailAddress },
    }, now)
    return token
  }

  return {
    /**
     * A new one-time setup token while no operator exists (to print at start), else null.
     * Stored hashed, so it can be shown only now.
     */
    async issueSetupToken(): Promise<string | null> {
      if (await store.hasOperator(db)) return null
      const token = newToken()
      const now = clock.now()
      await store.insertSetupToken(db, sha256(token), now, now + SETUP_TOKEN_TTL_MS)
      return token
    },

    /** Whether the first operator was created already (before that, only a setup link helps). */
    hasOperator: () => store.hasOperator(db),

    /** Whether `token` can still create the first operator. */
    async isSetupTokenUsable(token: string): Promise<boolean> {
      if (!token || await store.hasOperator(db)) return false
      return store.findUsableSetupToken(db, sha256(token), clock.now())
    },

    /**
     * Creates the first operator and signs them in, consuming the token. Fails with 404 when
     * the token is unknown, used or expired, or when an operator exists already (every other
     * setup link dies with it); 422 for an invalid email address or password.
     */
    async setup(token: string, input: { emailAddress: string; password: string; client?: SessionClient }): Promise<{ operator: Operator; sessionToken: string }> {
      return createFirstOperator({ db, clock, store }, input, { setupToken: token, startSession: (q, operatorId) => startSession(q, { id: operatorId, emailAddress: null }, input.client) })
    },

    /**
     * Signs an operator in. Attempts are throttled per address and per client IP (429 with
     * Retry-After); an unknown address costs as long as a wrong password and reads the same.
     * An operator with one-time codes on gets no session yet but a short-lived challenge, which
     * only the code form accepts (operator-security.service.ts `completeSignIn`).
     */
    async signIn(input: { emailAddress: string; password: string; ip: string | null; userAgent?: string | null }): Promise<
      { operator: Operator; sessionToken: string } | { operator: Operator; challengeToken: string }> {
      const identifier = input.emailAddress.trim().toLowerCase()
      // Prefixed so that these counters never add up with the hosted pages' ones in Redis.
      const attempt = await signInThrottle.begin({ instanceId: THROTTLE_SCOPE, identifier, ip: input.ip ? `dashboard:${clientKey(input.ip)}` : null })
      const operator = identifier ? await store.findOperatorByEmail(db, identifier) : null
      const matches = await verifyPassword(input.password, operator?.password_hash ?? dummyHash())
      if (!operator || !matches) {
        throw paramError(422, 'form_password_incorrect', 'password', 'is incorrect', 'That email address and password do not match an operator account.')
      }
      await attempt.succeeded()
      const now = clock.now()
      await store.deleteExpiredSessions(db, now)
      const signedIn = { id: operator.id, emailAddress: operator.email_address }
      if (operator.totp_enabled_at != null) {
        const challengeToken = newToken()
        await security.insertChallenge(db, { token_hash: sha256(challengeToken), operator_id: operator.id, created_at: now, expires_at: now + SIGN_IN_CHALLENGE_TTL_MS })
        return { operator: signedIn, challengeToken }
      }
      return { operator: signedIn, sessionToken: await db.transaction((tx) => startSession(tx, signedIn, { ip: input.ip, userAgent: input.userAgent ?? null })) }
    },

    /**
     * Asks a signed-in operator for their password again before something a stolen session
     * must not get (a secret key in full). Wrong answers count with failed sign-ins, per address
     * and IP (429 past the limit); 422 naming `password` for a wrong one.
     */
    async confirmPassword(operator: Operator, password: string, ip: string | null): Promise<void> {
      const attempt = await signInThrottle.begin({ instanceId: THROTTLE_SCOPE, identifier: operator.emailAddress, ip: ip ? `dashboard:${clientKey(ip)}` : null })
      const row = await store.findOperatorByEmail(db, operator.emailAddress)
      if (!row || row.id !== operator.id || !await verifyPassword(password, row.password_hash)) {
        throw paramError(422, 'form_password_incorrect', 'password', 'is incorrect', 'That is not your password: revealing a key needs the password you sign in with.')
      }
      await attempt.succeeded()
    },

    /** The operator a session cookie's token belongs to, or null (no, unknown or expired session). */
    async session(token: string | null): Promise<Operator | null> {
      if (!token) return null
      const now = clock.now()
      const row = await store.findSession(db, sha256(token), now)
      if (row) await security.touchSession(db, sha256(token), now, now - LAST_SEEN_RESOLUTION_MS)
      return row && { id: row.id, emailAddress: row.email_address }
    },

    /** A session for an operator who has passed every check (password, then code). */
    startSession: (operator: Operator, client?: SessionClient) => db.transaction((tx) => startSession(tx, operator, client)),

    /** Ends the session of this token; recorded as the request's actor (the operator signing out) when there was one. */
    async signOut(token: string | null): Promise<void> {
      if (!token) return
      await db.transaction(async (tx) => {
        if (await store.deleteSession(tx, sha256(token))) await recordAudit(tx, { instanceId: null, action: 'operator.signed_out' }, clock.now())
      })
    },

    async listInstances(): Promise<Instance[]> {
      return (await store.listInstances(db)).map(toInstance)
    },

    /** The instance with this id, or null: every instance-scoped page resolves its instance here. */
    async findInstance(id: string): Promise<Instance | null> {
      if (!isInstanceId(id)) return null
      const row = await store.findInstance(db, id)
      return row && toInstance(row)
    },

    /** A new development instance; its secret key is returned now and never again. */
    async createInstance(input: { name: string }): Promise<{ instance: Instance; secretKey: string }> {
      const name = input.name.trim()
      if (!name) throw paramError(422, 'form_param_missing', 'name', 'is missing', 'Give the instance a name.')
      if (name.length > INSTANCE_NAME_MAX) throw paramError(422, 'form_param_max_length_exceeded', 'name', 'is too long', `Names can be at most ${INSTANCE_NAME_MAX} characters.`)
      return instances.create({ name })
    },
  }
}

export type DashboardService = ReturnType<typeof createDashboardService>
