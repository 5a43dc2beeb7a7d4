import { Type } from 'typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ClerkErrorsRef, paginated } from '../platform/openapi.js'
import { notFound } from '../platform/errors.js'
import { isInstanceId } from '../platform/ids.js'
import type { Instance } from '../instance/instance.schemas.js'
import { InstanceQuery } from '../frontend/frontend.schemas.js'
import type { SigningKeyService } from './signing-keys.service.js'
import type { SessionService } from './sessions.service.js'
import type { SessionRefreshService } from './session-refresh.js'
import {
  ClerkSession, CreateSessionTokenBody, Jwks, ListSessionsQuery, RefreshSessionBody, RefreshSessionQuery, SessionCookies, SessionIdParams, SessionToken,
  toClerkSession,
} from './sessions.schemas.js'

const errors = { 401: ClerkErrorsRef, 404: ClerkErrorsRef }

/** The Backend API's JWKS (secret-key auth, as `verifyToken` fetches it) and Foyer's rotation. */
export const signingKeyRoutes = (deps: { signingKeys: SigningKeyService }): FastifyPluginAsyncTypebox => async (app) => {
  app.get('/v1/jwks', {
    schema: {
      operationId: 'GetJWKS', tags: ['JWKS'], response: { 200: Jwks, ...errors },
      description: 'The public keys that verify this instance\'s session tokens: the current key first, then keys retired in the last 10 minutes.',
    },
  }, async (req) => deps.signingKeys.jwks(req.instance))

  app.post('/v1/jwks/rotate', {
    schema: {
      operationId: 'RotateJWKS', tags: ['JWKS'], response: { 200: Jwks, ...errors },
      description: 'Foyer\'s own: a new signing key signs from now on; the old one stays in the JWKS for 10 minutes, so the tokens it signed keep verifying. Answers the new JWKS.',
    },
  }, async (req) => {
    await deps.signingKeys.rotate(req.instance)
    return deps.signingKeys.jwks(req.instance)
  })
}

/**
 * The Frontend API's `/.well-known/jwks.json`: public, the same keys as GET /v1/jwks. The
 * instance is the one named by `?instance=ins_…`, else the default one, as in the rest of the
 * Frontend API.
 */
export const jwksFrontendRoutes = (deps: {
  signingKeys: SigningKeyService
  resolveInstance: (instanceId?: string | null) => Promise<Instance | null>
}): FastifyPluginAsyncTypebox => async (app) => {
  app.get('/.well-known/jwks.json', { schema: { hide: true, querystring: InstanceQuery, response: { 200: Jwks } } }, async (req, reply) => {
    const named = req.query.instance
    // Anything but an instance id names no instance, and costs no query.
    const instance = named && !isInstanceId(named) ? null : await deps.resolveInstance(named)
    if (!instance) throw notFound('instance')
    // Public keys, the same for everyone: caches may keep them a minute, which a rotation
    // outlasts (a retired key stays published for 10 minutes).
    reply.header('cache-control', 'public, max-age=60')
    return deps.signingKeys.jwks(instance)
  })
}

const sessionErrors = { 400: ClerkErrorsRef, 401: ClerkErrorsRef, 404: ClerkErrorsRef, 422: ClerkErrorsRef }
const tags = ['Sessions']

/** The Backend API's Sessions (secret-key auth): Clerk's shapes, as `clerk.sessions.*` calls them. */
export const sessionRoutes = (deps: { sessions: SessionService; refresh: SessionRefreshService }): FastifyPluginAsyncTypebox => async (app) => {
  app.get('/v1/sessions', {
    schema: {
      operationId: 'GetSessionList', tags, querystring: ListSessionsQuery,
      description: 'Newest first. A plain array; `paginated=true` answers `{data, total_count}`.',
      response: { 200: paginated(ClerkSession), ...sessionErrors },
    },
  }, async (req, reply) => {
    const { data, totalCount } = await deps.sessions.list(req.instance, req.query)
    // Both shapes are exactly built by toClerkSession: no need to try each branch of the union.
    reply.type('application/json').serializer(JSON.stringify)
    const sessions = data.map((s) => toClerkSession(s.row, s.now))
    return totalCount === null ? sessions : { data: sessions, total_count: totalCount }
  })

  app.get('/v1/sessions/:session_id', {
    schema: { operationId: 'GetSession', tags, params: SessionIdParams, response: { 200: ClerkSession, ...sessionErrors } },
  }, async (req) => {
    const { row, now } = await deps.sessions.get(req.instance, req.params.session_id)
    return toClerkSession(row, now)
  })

  app.post('/v1/sessions/:session_id/revoke', {
    schema: {
      operationId: 'RevokeSession', tags, params: SessionIdParams, response: { 200: ClerkSession, ...sessionErrors },
      description: 'The session\'s cookie signs no one in any more, on the hosted pages and the Frontend API, and no token is minted for it. A session no longer active is answered as it is.',
    },
  }, async (req) => {
    const { row, now } = await deps.sessions.revoke(req.instance, req.params.session_id)
    return toClerkSession(row, now)
  })

  app.post('/v1/sessions/:session_id/tokens', {
    schema: {
      operationId: 'CreateSessionToken', tags, params: SessionIdParams, body: CreateSessionTokenBody, response: { 200: SessionToken, ...sessionErrors },
      description: 'A session token (RS256, 60 s) for an active session; an ended, revoked or expired one answers 404.',
    },
  }, async (req) => ({
    object: 'token' as const,
    jwt: await deps.sessions.createToken(req.instance, req.params.session_id, { expiresInSeconds: req.body?.expires_in_seconds ?? null }),
  }))
  app.post('/v1/sessions/:session_id/refresh', {
    schema: {
      operationId: 'RefreshSession', tags, params: SessionIdParams, querystring: RefreshSessionQuery, body: RefreshSessionBody,
      response: { 200: Type.Union([SessionToken, SessionCookies]), ...sessionErrors },
      description: 'A new session token for an active session, for the application whose `__session` cookie expired: it shows the expired token and the `__refresh` cookie of that session (401 naming either when wrong). An ended, revoked, removed or expired session answers 404.',
    },
  }, async (req) => deps.refresh.refresh(req.instance, req.params.session_id, req.body, { suffixed: req.query.suffixed_cookies === true }))
}
