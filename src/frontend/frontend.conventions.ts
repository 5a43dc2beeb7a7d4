import cors from '@fastify/cors'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { ApiError } from '../platform/errors.js'
import { isAllowedOrigin } from '../platform/validation.js'
import type { AcceptService } from '../accept/accept.service.js'
import { sessionCookie } from '../accept/session-cookie.js'
import { redirectOriginsOf, type Instance } from '../instance/instance.schemas.js'

const INSTANCE_ID = /^ins_[A-Za-z0-9]{1,64}$/

/**
 * What every Frontend API plugin shares: CORS for the allowed origins only, with the session
 * cookie, and the Origin check that stands in for CSRF tokens. Call it inside the plugin
 * (its hooks and its preflight route stay under that plugin's prefix).
 *
 * The allowed origins are those of the instance the request acts for: the one it names
 * (`?instance=`), else the signed-in session's, else the default instance. So an origin one
 * instance allows cannot read, or act on, a session of another.
 */
export async function useFrontendConventions(app: FastifyInstance, deps: { accept: AcceptService; publicUrl: string; allowedRedirectOrigins: readonly string[] }) {
  const ownOrigin = new URL(deps.publicUrl).origin
  const cookie = sessionCookie(deps.publicUrl)

  async function actingInstance(request: FastifyRequest): Promise<Instance | null> {
    const named = (request.query as { instance?: unknown } | undefined)?.instance
    if (typeof named === 'string' && named !== '') return INSTANCE_ID.test(named) ? deps.accept.resolveInstance(named) : null
    return (await deps.accept.session(cookie.read(request)))?.instance ?? deps.accept.resolveInstance(null)
  }

  // One answer per request, shared by the CORS headers and the Origin check.
  const verdicts = new WeakMap<FastifyRequest, Promise<boolean>>()
  const isAllowed = (request: FastifyRequest, origin: string) => {
    let verdict = verdicts.get(request)
    if (!verdict) {
      verdict = (async () => {
        let url: URL
        try {
          url = new URL(origin)
        } catch {
          return false // `null` (sandboxed frames, opaque redirects) and anything unparsable
        }
        const instance = await actingInstance(request)
        return isAllowedOrigin(url, instance ? redirectOriginsOf(instance, deps.allowedRedirectOrigins) : deps.allowedRedirectOrigins)
      })()
      verdicts.set(request, verdict)
    }
    return verdict
  }

  // Pages on the allowed origins may call with the session cookie; others get no CORS
  // headers at all, so their scripts cannot read a single answer.
  await app.register(cors, {
    delegator: async (request: FastifyRequest) => ({
      origin: request.headers.origin !== undefined && await isAllowed(request, request.headers.origin),
      credentials: true,
      methods: ['GET', 'POST', 'DELETE'],
      maxAge: 600,
    }),
  })

  // CSRF. SameSite=Lax keeps the cookie off cross-site POSTs, but not off POSTs from sibling
  // subdomains (same site, other origin), and a sign-in CSRF needs no cookie at all (it signs
  // the victim into the attacker's account). Browsers name the origin of every cross-origin
  // POST and DELETE, so one named and not allowed is refused before anything happens. Without
  // an Origin header the caller is not a browser page acting for someone, and goes on.
  app.addHook('onRequest', async (request) => {
    if (request.method === 'GET' || request.method === 'HEAD' || request.method === 'OPTIONS') return
    const origin = request.headers.origin
    if (origin !== undefined && origin !== ownOrigin && !await isAllowed(request, origin)) {
      throw new ApiError(403, 'origin_invalid', 'Invalid origin',
        `Requests from ${origin.slice(0, 100)} are not allowed: the origin must be allowed for the instance the request acts for (FOYER_ALLOWED_REDIRECT_ORIGINS, or the instance's own origins; name a non-default instance with ?instance=ins_…).`)
    }
  })
}
