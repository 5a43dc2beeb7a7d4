import { sign as rsaSign, type KeyObject } from 'node:crypto'
import type { Db } from '../platform/db/db.js'
import type { Clock } from '../platform/clock.js'
import { ApiError } from '../platform/errors.js'
import type { Instance } from '../instance/instance.schemas.js'
import { frontendApiHost } from '../instance/instance.service.js'
import type { SigningKeyService } from './signing-keys.service.js'
import type { ActivityStamp, SessionKey, SessionStore, TokenSubject } from './sessions.store.js'
import { coalesced } from '../platform/db/coalesce.js'

interface Deps {
  db: Db
  clock: Clock
  store: SessionStore
  signingKeys: Pick<SigningKeyService, 'signingKey'>
  /** FOYER_PUBLIC_URL: the publishable key's host, with its scheme, is the tokens' `iss`; the SDKs compare the two to pick their cookies. */
  publicUrl: string
}

/** Clerk's session tokens live 60 s; `nbf` is 10 s back, for the clocks of the applications verifying them. */
export const SESSION_TOKEN_TTL_S = 60
const NOT_BEFORE_LEEWAY_S = 10
/** A session's `last_active_at` (and so its user's) moves at most this often: minting stays a read while the stamp is fresh. */
export const ACTIVITY_STAMP_INTERVAL_MS = 60_000
const STAMPS_PER_UPDATE = 100

export interface MintOptions {
  expiresInSeconds?: number | null
  /** The origin the token is for (`azp`): the application's page. */
  azp?: string | null
  /**
   * The organization the token speaks for instead of the session's active one: an id, or null
   * for none (the personal account). One the person is not a member of is left out.
   */
  organization?: { id: string | null }
}

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

// On libuv's thread pool, not the event loop: an RSA-2048 signature takes about 0.5–1 ms of CPU,
// most of what a token costs; the loop serves other requests meanwhile, and signatures run on
// every core. The pool (four threads unless UV_THREADPOOL_SIZE says otherwise) is shared with
// password hashing, so a burst of sign-ins can delay a token by a hash's time.
const rs256 = (input: string, privateKey: KeyObject) => new Promise<string>((resolve, reject) => {
  rsaSign('sha256', Buffer.from(input), privateKey, (err, signature) => (err ? reject(err) : resolve(signature.toString('base64url'))))
})

export const notActive = () =>
  new ApiError(404, 'resource_not_found', 'not found', 'No active session with this id was found: it is unknown, ended, revoked, removed or expired.')

/**
 * Session tokens: RS256 JWTs that `verifyToken` from @clerk/backend accepts, with the JWKS
 * (`secretKey`/`apiUrl`) and with the PEM (`jwtKey`) alike. Signed with node:crypto: an RS256
 * JWT is one PKCS#1 v1.5 signature over `header.payload`, so `jose` would add a dependency for
 * two lines.
 */
export function createSessionTokenService({ db, clock, store, signingKeys, publicUrl }: Deps) {
  const issuer = `${new URL(publicUrl).protocol}//${frontendApiHost(publicUrl)}`
  // Sessions signed in together go stale together a minute later: their stamps share one statement.
  const stamp = coalesced<ActivityStamp>((stamps) => store.stampActivity(db, stamps), STAMPS_PER_UPDATE)

  /**
   * A token for the instance's session `sessionId`. Only a live session gets one: an unknown,
   * other instance's, ended, revoked or expired session, or one whose user is gone, is a 404
   * (Clerk's reference answers 404 and nothing else but 401 here). Times are the server's
   * clock: sessions live on wall time, not on an instance's test clock. Minting is activity:
   * it moves the session's `last_active_at`, at most once every ACTIVITY_STAMP_INTERVAL_MS.
   */
  async function mint(instance: Instance, sessionId: string, options: MintOptions = {}): Promise<string> {
    const minted = await mintFor(instance, { id: sessionId }, options)
    if (!minted) throw notActive()
    return minted.jwt
  }

  /** `mint` for a session named by id or by its Foyer cookie: null where `mint` answers 404. */
  async function mintFor(instance: Instance, key: SessionKey, options: MintOptions = {}): Promise<{ jwt: string; session: TokenSubject } | null> {
    const now = clock.now()
    const session = await store.findTokenSubject(db, instance.id, key, now, options.organization)
    if (!session) return null
    // One guarded write a minute per session, however many tokens are minted in between.
    if (session.last_active_at < now - ACTIVITY_STAMP_INTERVAL_MS) {
      await stamp({ instanceId: instance.id, id: session.id, now, staleBefore: now - ACTIVITY_STAMP_INTERVAL_MS })
    }
    return { jwt: await sign(instance, claims(session, now, options)), session }
  }

  function claims(session: TokenSubject, now: number, options: MintOptions) {
    const iat = Math.floor(now / 1000)
    return {
      sub: session.user_id,
      sid: session.id,
      iat,
      nbf: iat - NOT_BEFORE_LEEWAY_S,
      exp: iat + (options.expiresInSeconds ?? SESSION_TOKEN_TTL_S),
      iss: issuer,
      // The origin the token is for; the SDKs check it only when given authorizedParties.
      ...(options.azp ? { azp: options.azp } : {}),
      sts: 'active',
      // Minutes since the first factor (the sign-in that started the session); no second factor.
      fva: [Math.max(0, Math.floor((now - session.created_at) / 60_000)), -1],
      v: 2,
      // Roles are stored with Clerk's `org:` prefix; version 2 tokens carry the bare name and
      // the SDKs put the prefix back (orgRole = 'org:' + o.rol).
      ...(session.org_id ? { o: { id: session.org_id, slg: session.org_slug, rol: session.org_role!.replace(/^org:/, '') } } : {}),
    }
  }

  /** An RS256 JWT of `payload`, under the instance's current signing key. */
  async function sign(instance: Instance, payload: object): Promise<string> {
    const { kid, privateKey } = await signingKeys.signingKey(instance)
    const input = `${b64url({ alg: 'RS256', kid, typ: 'JWT' })}.${b64url(payload)}`
    return `${input}.${await rs256(input, privateKey)}`
  }

  return { mint, mintFor, sign }
}

export type SessionTokenService = ReturnType<typeof createSessionTokenService>
