import { verify } from 'node:crypto'
import type { Db } from '../platform/db/db.js'
import type { Clock } from '../platform/clock.js'
import { invalidParam, paramError } from '../platform/errors.js'
import type { Instance } from '../instance/instance.schemas.js'
import type { SigningKeyService } from './signing-keys.service.js'
import { notActive, type SessionTokenService } from './session-tokens.js'
import type { SessionStore } from './sessions.store.js'
import { isRefreshToken } from './refresh-tokens.js'
import { sessionTokenCookies } from './clerk-cookies.js'
import type { RefreshSessionBody } from './sessions.schemas.js'

interface Deps {
  db: Db
  clock: Clock
  store: Pick<SessionStore, 'findTokenSubject'>
  signingKeys: Pick<SigningKeyService, 'publicKey'>
  tokens: Pick<SessionTokenService, 'mint'>
  /** What refresh tokens are derived with (refresh-tokens.ts). */
  serverSecret: Buffer
}

export type RefreshAnswer = { object: 'token'; jwt: string } | { object: 'cookies'; cookies: string[] }

// Clerk answers a refresh it will not do with 401; @clerk/backend then sends the browser
// through a handshake (or answers signed out), whatever the code says.
const refused = (param: 'expired_token' | 'refresh_token', longMessage: string) =>
  paramError(401, 'authentication_invalid', param, 'is invalid', longMessage)

function originOf(raw: string): string {
  let url: URL | null = null
  try {
    url = new URL(raw)
  } catch {
    url = null
  }
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.origin !== raw) {
    throw invalidParam('request_origin', 'request_origin must be an origin (scheme, host and port, nothing else), such as https://app.example.com.')
  }
  return url.origin
}

function decodePart(part: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString())
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? value as Record<string, unknown> : null
  } catch {
    return null
  }
}

/**
 * The Backend API's refresh, as `authenticateRequest` of @clerk/backend calls it when the
 * application's `__session` cookie has expired and a `__refresh_<suffix>` cookie is there: a
 * new token without sending the browser through a handshake.
 */
export function createSessionRefreshService({ db, clock, store, signingKeys, tokens, serverSecret }: Deps) {
  /** The `sid` of a JWT that one of the instance's keys signed, expired or not; null for anything else. */
  async function signedSessionId(instance: Instance, token: string): Promise<string | null> {
    const parts = token.split('.')
    if (parts.length !== 3) return null
    const [header, payload, signature] = parts as [string, string, string]
    const head = decodePart(header)
    const claims = decodePart(payload)
    if (head?.alg !== 'RS256' || typeof head.kid !== 'string' || !claims) return null
    const key = await signingKeys.publicKey(instance, head.kid)
    if (!key || !verify('sha256', Buffer.from(`${header}.${payload}`), key, Buffer.from(signature, 'base64url'))) return null
    return typeof claims.sid === 'string' ? claims.sid : null
  }

  return {
    /**
     * A new session token for the instance's live session `sessionId`, for a caller that shows
     * both the session's refresh token and a token the instance signed for that session (its
     * expiry does not matter: that is the point). An unknown, other instance's, ended, revoked,
     * removed or expired session is a 404, as for POST …/tokens; a wrong refresh token or
     * expired token a 401 naming it. `request_origin` becomes the token's `azp`; with
     * `format: 'cookie'` the answer is the `__session` Set-Cookie lines for the application
     * (`suffixed`: under the publishable key's suffixed name too), Secure for an https origin.
     */
    async refresh(instance: Instance, sessionId: string, body: RefreshSessionBody, options: { suffixed: boolean }): Promise<RefreshAnswer> {
      const origin = body.request_origin == null ? null : originOf(body.request_origin)
      if (!await store.findTokenSubject(db, instance.id, { id: sessionId }, clock.now())) throw notActive()
      if (!isRefreshToken(serverSecret, instance.id, sessionId, body.refresh_token)) {
        throw refused('refresh_token', 'refresh_token is not this session\'s refresh token (the __refresh cookie the handshake set).')
      }
      if (await signedSessionId(instance, body.expired_token) !== sessionId) {
        throw refused('expired_token', 'expired_token must be a session token this instance signed for this session.')
      }
      const jwt = await tokens.mint(instance, sessionId, { azp: origin })
      if (body.format !== 'cookie') return { object: 'token', jwt }
      const context = { publishableKey: instance.publishableKey, suffixed: options.suffixed, secure: origin?.startsWith('https:') ?? false }
      return { object: 'cookies', cookies: sessionTokenCookies(context, jwt) }
    },
  }
}

export type SessionRefreshService = ReturnType<typeof createSessionRefreshService>
