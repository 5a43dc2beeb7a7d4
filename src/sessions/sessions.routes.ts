import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ClerkErrorsRef } from '../platform/openapi.js'
import { notFound } from '../platform/errors.js'
import { isInstanceId } from '../platform/ids.js'
import type { Instance } from '../instance/instance.schemas.js'
import { InstanceQuery } from '../frontend/frontend.schemas.js'
import type { SigningKeyService } from './signing-keys.service.js'
import { Jwks } from './sessions.schemas.js'

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
