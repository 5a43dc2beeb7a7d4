import cors from '@fastify/cors'
import type { FastifyInstance } from 'fastify'
import { ApiError } from '../platform/errors.js'
import { isAllowedOrigin } from '../platform/validation.js'

/**
 * What every Frontend API plugin shares: CORS for the allowed origins only, with the session
 * cookie, and the Origin check that stands in for CSRF tokens. Call it inside the plugin
 * (its hooks and its preflight route stay under that plugin's prefix).
 */
export async function useFrontendConventions(app: FastifyInstance, deps: { publicUrl: string; allowedRedirectOrigins: readonly string[] }) {
  const ownOrigin = new URL(deps.publicUrl).origin
  const isAllowed = (origin: string) => {
    try {
      return isAllowedOrigin(new URL(origin), deps.allowedRedirectOrigins)
    } catch {
      return false // `null` (sandboxed frames, opaque redirects) and anything unparsable
    }
  }

  // Pages on the allowed origins may call with the session cookie; others get no CORS
  // headers at all, so their scripts cannot read a single answer.
  await app.register(cors, {
    origin: (origin, cb) => cb(null, origin !== undefined && isAllowed(origin)),
    credentials: true,
    methods: ['GET', 'POST', 'DELETE'],
    maxAge: 600,
  })

  // CSRF. SameSite=Lax keeps the cookie off cross-site POSTs, but not off POSTs from sibling
  // subdomains (same site, other origin), and a sign-in CSRF needs no cookie at all (it signs
  // the victim into the attacker's account). Browsers name the origin of every cross-origin
  // POST and DELETE, so one named and not allowed is refused before anything happens. Without
  // an Origin header the caller is not a browser page acting for someone, and goes on.
  app.addHook('onRequest', async (request) => {
    if (request.method === 'GET' || request.method === 'HEAD' || request.method === 'OPTIONS') return
    const origin = request.headers.origin
    if (origin !== undefined && origin !== ownOrigin && !isAllowed(origin)) {
      throw new ApiError(403, 'origin_invalid', 'Invalid origin',
        `Requests from ${origin.slice(0, 100)} are not allowed: the origin must be one of FOYER_ALLOWED_REDIRECT_ORIGINS.`)
    }
  })
}
