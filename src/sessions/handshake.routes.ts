import { Type } from 'typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { ApiError, notFound, paramError } from '../platform/errors.js'
import { isInstanceId } from '../platform/ids.js'
import { ClerkErrorsRef } from '../platform/openapi.js'
import type { RequestLimit } from '../platform/rate-limit.js'
import type { Instance } from '../instance/instance.schemas.js'
import { usePageConventions } from '../pages/conventions.js'
import { sha256 } from '../platform/secrets.js'
import type { HandshakeService } from './handshake.js'

/**
 * GET /v1/client/handshake, as Clerk's middleware sends the browser to it: every parameter is
 * Clerk's. Others the SDK may add (`__clerk_api_version`, `__clerk_hs_reason`, `__session`,
 * `organization_id`) are accepted and not needed: Foyer reads its own cookie, not the
 * application's token.
 */
const HandshakeQuery = Type.Object({
  redirect_url: Type.Optional(Type.String({ maxLength: 4096 })),
  format: Type.Optional(Type.String({ maxLength: 20 })),
  organization_id: Type.Optional(Type.String({ maxLength: 200 })),
  suffixed_cookies: Type.Optional(Type.String({ maxLength: 10 })),
  __clerk_db_jwt: Type.Optional(Type.String({ maxLength: 200 })),
  instance: Type.Optional(Type.String({ maxLength: 100 })),
}, { additionalProperties: true })

const PayloadQuery = Type.Object({ nonce: Type.String({ minLength: 1, maxLength: 100 }) })
const HandshakePayload = Type.Object({ directives: Type.Array(Type.String()) })

// Only what a cookie value may hold: an echoed value lands in a Set-Cookie line.
const COOKIE_VALUE = /^[A-Za-z0-9._~-]{1,200}$/

export interface HandshakeRouteDeps {
  handshake: HandshakeService
  resolveInstance: (instanceId: string | null) => Promise<Instance | null>
  /** The browser's Foyer session cookie, if it sent one. */
  sessionCookie: (request: FastifyRequest) => string | null
  allowedRedirectOrigins: readonly string[]
  limit: RequestLimit
}

/** The Frontend API's handshake: a browser navigation, so its refusals are pages, never redirects. */
export const handshakeRoutes = (deps: HandshakeRouteDeps): FastifyPluginAsyncTypebox => async (app) => {
  usePageConventions(app, deps.allowedRedirectOrigins)

  app.get('/v1/client/handshake', { schema: { hide: true, querystring: HandshakeQuery }, preHandler: deps.limit }, async (req, reply) => {
    const q = req.query
    const instance = q.instance && !isInstanceId(q.instance) ? null : await deps.resolveInstance(q.instance ?? null)
    if (!instance) throw notFound('instance')
    if (!q.redirect_url) throw paramError(400, 'form_param_missing', 'redirect_url', 'is missing', 'The handshake needs redirect_url: the page of the application to go back to.')
    let redirectUrl: URL
    try {
      redirectUrl = new URL(q.redirect_url)
    } catch {
      throw paramError(400, 'form_param_format_invalid', 'redirect_url', 'is invalid', 'redirect_url must be an absolute http or https URL.')
    }
    if (!deps.handshake.allows(instance, redirectUrl)) {
      throw paramError(400, 'form_param_value_invalid', 'redirect_url', 'is not allowed',
        `This application does not allow sign-ins to be sent to ${redirectUrl.origin.slice(0, 200)}. Its operator can add the origin to the instance's allowed redirect origins.`)
    }
    if (q.format !== undefined && q.format !== 'nonce' && q.format !== 'token') {
      throw paramError(400, 'form_param_value_invalid', 'format', 'is invalid', 'format must be nonce or token.')
    }
    const cookie = deps.sessionCookie(req)
    const location = await deps.handshake.back({
      instance,
      redirectUrl,
      // Looked up within this instance: another instance's session signs no one in here.
      session: cookie && cookie.length <= 100 ? { tokenHash: sha256(cookie) } : null,
      suffixed: q.suffixed_cookies === 'true',
      devBrowser: q.__clerk_db_jwt && COOKIE_VALUE.test(q.__clerk_db_jwt) ? q.__clerk_db_jwt : null,
      // Clerk's default is the token; its SDKs ask for the nonce.
      format: q.format === 'nonce' ? 'nonce' : 'token',
      organization: q.organization_id,
    })
    return reply.header('cache-control', 'no-store').redirect(location, 307)
  })
}

/** The Backend API's half of the nonce carrier (secret-key auth): the instance's nonces only. */
export const handshakePayloadRoutes = (deps: { handshake: HandshakeService }): FastifyPluginAsyncTypebox => async (app) => {
  app.get('/v1/clients/handshake_payload', {
    schema: {
      operationId: 'GetHandshakePayload', tags: ['Clients'], querystring: PayloadQuery,
      response: { 200: HandshakePayload, 400: ClerkErrorsRef, 401: ClerkErrorsRef, 404: ClerkErrorsRef, 422: ClerkErrorsRef },
      description: 'The Set-Cookie directives behind a handshake nonce. A nonce answers for 10 seconds after its first use (a reload), then 404, as does an unknown one or another instance\'s.',
    },
  }, async (req, reply) => {
    const directives = await deps.handshake.payload(req.instance, req.query.nonce)
    if (!directives) throw new ApiError(404, 'resource_not_found', 'not found', 'No handshake with this nonce is waiting: it is unknown, another instance\'s, expired or already used.')
    reply.header('cache-control', 'no-store')
    return { directives }
  })
}
