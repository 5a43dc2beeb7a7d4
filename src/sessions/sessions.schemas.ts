import { Type, type Static } from 'typebox'
import type { SigningKeyRow } from './signing-keys.store.js'
import type { SessionRecord, SessionStatusFilter } from './sessions.store.js'

// Clerk's JWKS.rsa.PublicKey: what `verifyToken` imports with WebCrypto (RSASSA-PKCS1-v1_5).
export const Jwk = Type.Object({
  kid: Type.String(),
  kty: Type.Literal('RSA'),
  alg: Type.Literal('RS256'),
  use: Type.Literal('sig'),
  n: Type.String({ description: 'The modulus, base64url.' }),
  e: Type.String({ description: 'The public exponent, base64url (AQAB).' }),
}, { additionalProperties: false })

export const Jwks = Type.Object({
  keys: Type.Array(Jwk, { description: 'The current key first, then keys retired in the last 10 minutes, newest first.' }),
}, { additionalProperties: false })
export type Jwks = Static<typeof Jwks>

export const toJwk = (row: Pick<SigningKeyRow, 'id' | 'n' | 'e'>): Static<typeof Jwk> =>
  ({ kid: row.id, kty: 'RSA', alg: 'RS256', use: 'sig', n: row.n, e: row.e })

export const ListSessionsQuery = Type.Object({
  user_id: Type.Optional(Type.String({ maxLength: 200, description: 'Sessions of this user.' })),
  client_id: Type.Optional(Type.String({ maxLength: 200, description: 'Sessions of this client (Foyer has one session per client).' })),
  status: Type.Optional(Type.Union(
    ['abandoned', 'active', 'ended', 'expired', 'removed', 'replaced', 'revoked'].map((s) => Type.Literal(s as SessionStatusFilter)),
    { description: 'Foyer\'s sessions are active, ended (signed out), revoked, removed (from their client by their user) or expired; the other statuses match none.' })),
  paginated: Type.Optional(Type.Boolean({ description: '`true` answers `{data, total_count}`; otherwise a plain array.' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 10 })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_147_483_647, default: 0 })),
}, { additionalProperties: false })
export type ListSessionsQuery = Static<typeof ListSessionsQuery>

export const SessionIdParams = Type.Object({ session_id: Type.String() })

export const CreateSessionTokenBody = Type.Union([Type.Null(), Type.Object({
  expires_in_seconds: Type.Optional(Type.Union([Type.Integer({ minimum: 30, maximum: 315_360_000 }), Type.Null()], {
    description: 'The token\'s lifetime instead of 60 s. A token outliving its key\'s retirement (10 minutes after a rotation) stops verifying.',
  })),
}, { additionalProperties: false })])

export const SessionToken = Type.Object({ object: Type.Literal('token'), jwt: Type.String() }, { additionalProperties: false })

// What `authenticateRequest` of @clerk/backend sends when a session token in a cookie has expired.
export const RefreshSessionBody = Type.Object({
  expired_token: Type.String({ maxLength: 16_384, description: 'The expired session token from the `__session` cookie: signed by this instance, for this session.' }),
  refresh_token: Type.String({ maxLength: 256, description: 'The `__refresh_<suffix>` cookie the handshake set for this session.' }),
  request_origin: Type.Optional(Type.String({ maxLength: 2048, description: 'The origin the application was asked on: the new token\'s `azp`, and Secure cookies when https.' })),
  request_headers: Type.Optional(Type.Union([Type.Null(), Type.Record(Type.String(), Type.Unknown())], { description: 'The application\'s request headers; Foyer does not use them.' })),
  format: Type.Optional(Type.Union([Type.Literal('token'), Type.Literal('cookie'), Type.Null()], { description: '`token` (the default) answers the token; `cookie` the Set-Cookie lines for the application.' })),
  request_originating_ip: Type.Optional(Type.Union([Type.Null(), Type.String({ maxLength: 256 })], { description: 'Foyer does not use it.' })),
}, { additionalProperties: false })
export type RefreshSessionBody = Static<typeof RefreshSessionBody>

export const RefreshSessionQuery = Type.Object({
  suffixed_cookies: Type.Optional(Type.Boolean({ description: 'Set the session cookie under its suffixed name too (`__session_<suffix>`), as the application reads it.' })),
}, { additionalProperties: false })

export const SessionCookies = Type.Object({
  object: Type.Literal('cookies'),
  cookies: Type.Array(Type.String(), { description: 'Set-Cookie lines for the application to append to its answer.' }),
}, { additionalProperties: false })

// Clerk's Session, as `sessions.getSession` and friends parse it.
export const ClerkSession = Type.Object({
  object: Type.Literal('session'),
  id: Type.String(),
  user_id: Type.String(),
  client_id: Type.String({ description: 'The Frontend API\'s Client of this session: Foyer derives it from the session id (`client_…`).' }),
  actor: Type.Null(),
  status: Type.Union([Type.Literal('active'), Type.Literal('ended'), Type.Literal('revoked'), Type.Literal('removed'), Type.Literal('expired')]),
  last_active_organization_id: Type.Null(),
  last_active_at: Type.Integer(),
  expire_at: Type.Integer(),
  abandon_at: Type.Integer({ description: 'Foyer sessions end at `expire_at`, inactive or not: the same time.' }),
  updated_at: Type.Integer(),
  created_at: Type.Integer(),
  tasks: Type.Null(),
}, { additionalProperties: false })
export type ClerkSession = Static<typeof ClerkSession>

/** The Frontend API's Client id for a session (see toFapiClient): one browser, one session. */
export const clientIdOf = (sessionId: string) => `client_${sessionId.slice(sessionId.indexOf('_') + 1)}`

export function toClerkSession(row: SessionRecord, now: number): ClerkSession {
  return {
    object: 'session',
    id: row.id,
    user_id: row.user_id,
    client_id: clientIdOf(row.id),
    actor: null,
    status: row.status === 'active' && row.expires_at <= now ? 'expired' : row.status,
    last_active_organization_id: null,
    last_active_at: row.last_active_at,
    expire_at: row.expires_at,
    abandon_at: row.expires_at,
    updated_at: row.updated_at,
    created_at: row.created_at,
    tasks: null,
  }
}
