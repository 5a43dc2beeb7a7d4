import type { FastifyInstance, FastifyRequest } from 'fastify'
import { ApiError } from './errors.js'
import type { Instance } from '../instance/instance.schemas.js'
import { setAuditActor } from './audit/audit.js'

declare module 'fastify' {
  interface FastifyRequest {
    instance: Instance
  }
}

const BEARER = /^Bearer\s+(\S+)\s*$/i

/**
 * Turns `Authorization: Bearer sk_…` into `request.instance` for every route of the plugin it
 * is registered in. The two failures answer as Clerk's do: a missing or malformed header,
 * and a key no instance holds. The key itself is never logged or echoed; the audit log names
 * the request's actor by the key's id and hint.
 */
export function requireSecretKey(app: FastifyInstance, authenticate: (secretKey: string) => Promise<{ instance: Instance; key: { id: string; hint: string | null } } | null>) {
  app.decorateRequest('instance', null as unknown as Instance)
  app.addHook('onRequest', async (request: FastifyRequest) => {
    const match = BEARER.exec(request.headers.authorization ?? '')
    if (!match?.[1]) {
      throw new ApiError(401, 'authorization_header_format_invalid', 'Invalid Authorization header format',
        'The Authorization header must be "Bearer <secret key>".')
    }
    const found = /^sk_(test|live)_/.test(match[1]) ? await authenticate(match[1]) : null
    if (!found) {
      throw new ApiError(401, 'clerk_key_invalid', 'The provided Secret Key is invalid. Make sure that your Secret Key is correct.',
        'The provided Secret Key is invalid. Make sure that your Secret Key is correct.')
    }
    request.instance = found.instance
    setAuditActor(request, { type: 'api_key', id: found.key.id, label: found.key.hint })
  })
}
