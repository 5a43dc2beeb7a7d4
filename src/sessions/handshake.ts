import { createHmac, randomBytes } from 'node:crypto'
import type { Db } from '../platform/db/db.js'
import type { Clock } from '../platform/clock.js'
import { sameSecret, sha256 } from '../platform/secrets.js'
import { isAllowedOrigin } from '../platform/validation.js'
import { redirectOriginsOf, type Instance } from '../instance/instance.schemas.js'
import type { SessionTokenService } from './session-tokens.js'
import { coalesced } from '../platform/db/coalesce.js'
import type { HandshakeStore, NewNonce } from './handshake.store.js'
import type { SessionKey, SessionStore } from './sessions.store.js'
import { devBrowserCookies, signedInCookies, signedOutCookies, type CookieContext } from './clerk-cookies.js'
import { refreshTokenFor } from './refresh-tokens.js'

interface Deps {
  db: Db
  clock: Clock
  store: HandshakeStore
  tokens: Pick<SessionTokenService, 'mintFor' | 'sign'>
  sessions: Pick<SessionStore, 'activateOrganization'>
  serverSecret: Buffer
  /** FOYER_ALLOWED_REDIRECT_ORIGINS: every instance allows these, and its own besides. */
  allowedRedirectOrigins: readonly string[]
}

/** An unused nonce lasts as long as the redirect that carries it should take. */
const NONCE_TTL_MS = 2 * 60 * 1000
/** A used nonce still answers this long: a reload of the page that carried it stays signed in. */
const NONCE_RELOAD_MS = 10 * 1000
/**
 * What a spent nonce of a production instance answers. Clerk's middleware does not strip the
 * nonce from a production URL, so a reload, a bookmark or the back button trades it again long
 * after it was spent. An error or an empty answer would read as signed out, although the
 * browser's own cookies are good; a `__session` that is no token makes the SDK give up on the
 * handshake ("unable to resolve handshake") and read those cookies instead. Should anything
 * apply the line, it only deletes the session cookie, which costs a handshake.
 */
const SPENT_DIRECTIVES = ['__session=spent-handshake-nonce; Path=/; Max-Age=0']

/** Nonces written in one statement at most; more wait for the next. */
const NONCES_PER_INSERT = 100
const NONCE_WRITERS = 4
/** One nonce in 20 sweeps: at most 500 rows each, more than 20 new ones. */
const SWEEP_CHANCE = 1 / 20
/** The token carrier's own lifetime; the session token inside lives 60 s anyway. */
const HANDSHAKE_TOKEN_TTL_S = 60

export interface HandshakeRequest {
  instance: Instance
  /** Where the application wants the browser back: checked against the instance's allowed origins. */
  redirectUrl: URL
  /**
   * The browser's session: by id once Foyer has just signed the person in, else by the Foyer
   * cookie's hash. Only a live session of this very instance signs the application in; any
   * other (another instance's, ended, revoked) signs it out.
   */
  session: SessionKey | null
  /** `suffixed_cookies=true`: the application reads suffixed cookie names. */
  suffixed: boolean
  /** The application's own development-browser value, kept when it sent one. */
  devBrowser: string | null
  /** 'nonce' or 'token', as the application asked; Foyer-initiated handshakes use the nonce. */
  format: 'nonce' | 'token'
  /**
   * `organization_id` (an id or slug) to make the session's active organization, when its
   * person is a member; '' for none (the personal account). Absent leaves it as it is.
   */
  organization?: string | undefined
}

/**
 * Clerk's handshake: the way an application's middleware (clerkMiddleware, authenticateRequest)
 * learns who the browser is. The browser comes to Foyer on a top-level navigation, so Foyer
 * reads its own session cookie, and goes back to the application carrying Set-Cookie
 * directives for the application's domain: a session token, or a sign-out. The carrier is
 * either a signed JWT in the URL (`__clerk_handshake`) or a single-use nonce the application
 * trades for the directives through the Backend API with its secret key.
 */
export function createHandshakeService({ db, clock, store, tokens, sessions, serverSecret, allowedRedirectOrigins }: Deps) {
  // A nonce is a random part and its MAC under the server secret, bound to the instance: Foyer
  // tells its own spent nonces from invented ones without keeping them.
  const macOf = (instanceId: string, random: string) =>
    createHmac('sha256', serverSecret).update(`handshake nonce:${instanceId}:${random}`).digest().subarray(0, 16).toString('base64url')
  const newNonce = (instanceId: string) => {
    const random = randomBytes(18).toString('base64url')
    return `${random}.${macOf(instanceId, random)}`
  }
  // A handshake's redirect waits for its nonce's commit, as for a write of its own; under load
  // the nonces of concurrent handshakes share a statement, and a few statements run at once so
  // that one slow commit holds up only its own batch.
  const insertNonce = coalesced<NewNonce>((nonces) => store.insert(db, nonces), NONCES_PER_INSERT, NONCE_WRITERS)
  function isOwnNonce(instanceId: string, nonce: string): boolean {
    const [random, mac, ...rest] = nonce.split('.')
    return !!random && !!mac && rest.length === 0 && sameSecret(mac, macOf(instanceId, random))
  }

  /** Whether `url` may receive a handshake of the instance: a credential must never go to an unlisted origin. */
  function allows(instance: Instance, url: URL): boolean {
    return (url.protocol === 'http:' || url.protocol === 'https:') && isAllowedOrigin(url, redirectOriginsOf(instance, allowedRedirectOrigins))
  }

  /** The Set-Cookie lines that sign the application's browser in (or out), for `redirectUrl`'s site. */
  async function directives(r: Omit<HandshakeRequest, 'format'>): Promise<string[]> {
    const context: CookieContext = { publishableKey: r.instance.publishableKey, suffixed: r.suffixed, secure: r.redirectUrl.protocol === 'https:' }
    const devBrowser = r.instance.environmentType === 'development'
      ? devBrowserCookies(context, r.devBrowser ?? `dvb_${randomBytes(18).toString('base64url')}`)
      : []
    const minted = r.session && await tokens.mintFor(r.instance, r.session, { azp: r.redirectUrl.origin })
    if (!minted) return [...signedOutCookies(context), ...devBrowser]
    return [
      ...signedInCookies(context, {
        token: minted.jwt,
        // The sign-in's time: never after the token's iat, which the SDK would take as a token
        // older than the client's last change, and handshake again.
        clientUat: Math.floor(minted.session.created_at / 1000),
        refreshToken: refreshTokenFor(serverSecret, r.instance.id, minted.session.id),
      }),
      ...devBrowser,
    ]
  }

  /** The URL the browser goes back to: `redirectUrl` with the carrier in its query. */
  async function back(r: HandshakeRequest): Promise<string> {
    if (r.session && r.organization !== undefined) await sessions.activateOrganization(db, r.instance.id, r.session, r.organization)
    const lines = await directives(r)
    const url = new URL(r.redirectUrl)
    if (r.format === 'nonce') {
      const now = clock.now()
      const nonce = newNonce(r.instance.id)
      await insertNonce({ nonceHash: sha256(nonce), instanceId: r.instance.id, directives: lines, now, expiresAt: now + NONCE_TTL_MS })
      // Whoever makes nonces drops the expired ones, a bounded batch now and then: no timer, the
      // processes share the work, and nonces never traded (a flood) go as well.
      if (Math.random() < SWEEP_CHANCE) await store.sweep(db, now)
      url.searchParams.set('__clerk_handshake_nonce', nonce)
    } else {
      const iat = Math.floor(clock.now() / 1000)
      url.searchParams.set('__clerk_handshake', await tokens.sign(r.instance, { handshake: lines, iat, exp: iat + HANDSHAKE_TOKEN_TTL_S }))
    }
    return url.href
  }

  return {
    allows,
    back,

    /**
     * The directives behind a nonce of the instance (Backend API, secret key). Once spent (past
     * the reload window), a production instance's own nonce answers SPENT_DIRECTIVES; anything
     * else is null: unknown, another instance's, or a development instance's (whose middleware
     * strips the nonce from the URL, so never trades it twice).
     */
    async payload(instance: Instance, nonce: string): Promise<string[] | null> {
      const lines = await store.use(db, instance.id, sha256(nonce), clock.now(), NONCE_RELOAD_MS)
      if (lines) return lines
      return instance.environmentType === 'production' && isOwnNonce(instance.id, nonce) ? SPENT_DIRECTIVES : null
    },
  }
}

export type HandshakeService = ReturnType<typeof createHandshakeService>
