import cors from '@fastify/cors'
import { isSignInToken } from '../sign-in-tokens/sign-in-tokens.service.js'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { ApiError } from '../platform/errors.js'
import { isAllowedOrigin } from '../platform/validation.js'
import { isInstanceId } from '../platform/ids.js'
import type { AcceptService } from '../accept/accept.service.js'
import { sessionCookie } from '../accept/session-cookie.js'
import { redirectOriginsOf, type Instance } from '../instance/instance.schemas.js'
import { refuseMethodOverride } from './method-override.js'

const SIGN_UP_ID = /^sua_[A-Za-z0-9]{1,64}$/
const SIGN_IN_ID = /^sia_[A-Za-z0-9]{1,64}$/

/**
 * What every Frontend API plugin shares: CORS for the allowed origins only, with the session
 * cookie, and the Origin check that stands in for CSRF tokens. Call it inside the plugin
 * (its hooks and its preflight route stay under that plugin's prefix).
 *
 * An origin must be allowed by every instance the request touches: the one it names
 * (`?instance=`), the one of the ticket, sign-up or sign-in it carries, the one of the
 * signed-in session, or else the default instance. So an origin one instance allows can neither
 * read nor act on another's session, ticket, sign-up or sign-in. Both checks run once the body is parsed (the
 * ticket is in it), before validation, so refusals of the input still carry CORS headers.
 */
export async function useFrontendConventions(app: FastifyInstance, deps: { accept: AcceptService; publicUrl: string; allowedRedirectOrigins: readonly string[] }) {
  const ownOrigin = new URL(deps.publicUrl).origin
  const cookie = sessionCookie(deps.publicUrl)
  const { accept } = deps

  /** The origins of each instance the request touches; the server's alone for a name that is no instance. */
  async function originLists(request: FastifyRequest): Promise<(readonly string[])[]> {
    const touched: (Instance | null)[] = []
    const named = (request.query as { instance?: unknown } | undefined)?.instance
    if (typeof named === 'string' && named !== '') touched.push(isInstanceId(named) ? await accept.resolveInstance(named) : null)
    const ticket = (request.body as { ticket?: unknown } | undefined)?.ticket
    if (typeof ticket === 'string' && ticket !== '') {
      const state = isSignInToken(ticket) ? await accept.resolveSignInToken(ticket) : await accept.resolveTicket(ticket)
      if ('instance' in state) touched.push(state.instance)
    }
    const { sign_up_id: signUpId, sign_in_id: signInId } = (request.params ?? {}) as { sign_up_id?: unknown; sign_in_id?: unknown }
    if (typeof signUpId === 'string' && SIGN_UP_ID.test(signUpId)) {
      const instanceId = await accept.signUpInstanceId(signUpId)
      if (instanceId) touched.push(await accept.resolveInstance(instanceId))
    }
    if (typeof signInId === 'string' && SIGN_IN_ID.test(signInId)) {
      const instanceId = await accept.signInInstanceId(signInId)
      if (instanceId) touched.push(await accept.resolveInstance(instanceId))
    }
    const signedIn = await accept.session(cookie.read(request))
    if (signedIn) touched.push(signedIn.instance)
    if (touched.length === 0) touched.push(await accept.resolveInstance(null))
    return touched.map((instance) => (instance ? redirectOriginsOf(instance, deps.allowedRedirectOrigins) : deps.allowedRedirectOrigins))
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
        return (await originLists(request)).every((origins) => isAllowedOrigin(url, origins))
      })()
      verdicts.set(request, verdict)
    }
    return verdict
  }

  // Pages on the allowed origins may call with the session cookie; others get no CORS
  // headers at all, so their scripts cannot read a single answer. The answer depends on the
  // cookie, so no cache may keep it.
  await app.register(cors, {
    hook: 'preValidation',
    delegator: async (request: FastifyRequest) => ({
      origin: request.headers.origin !== undefined && await isAllowed(request, request.headers.origin),
      credentials: true,
      methods: ['GET', 'POST', 'PATCH', 'DELETE'],
      maxAge: 600,
    }),
  })
  app.addHook('onRequest', async (_request, reply) => {
    reply.header('cache-control', 'no-store')
  })

  // CSRF. SameSite=Lax keeps the cookie off cross-site POSTs, but not off POSTs from sibling
  // subdomains (same site, other origin), and a sign-in CSRF needs no cookie at all (it signs
  // the victim into the attacker's account). Browsers name the origin of every cross-origin
  // POST and DELETE, so one named and not allowed is refused before anything happens. Without
  // an Origin header the caller is not a browser page acting for someone, and goes on.
  app.addHook('preValidation', async (request) => {
    const origin = request.headers.origin
    const reads = request.method === 'GET' || request.method === 'HEAD' || request.method === 'OPTIONS'
    if (!reads && origin !== undefined && origin !== ownOrigin && !await isAllowed(request, origin)) {
      throw new ApiError(403, 'origin_invalid', 'Invalid origin',
        `Requests from ${origin.slice(0, 100)} are not allowed: the origin must be allowed (FOYER_ALLOWED_REDIRECT_ORIGINS, or the instance's own origins) by every instance the request touches: the one it names, its ticket's, sign-up's or sign-in's, and the signed-in session's.`)
    }
    // After the CORS headers, so that the page can read the refusal.
    refuseMethodOverride(request)
  })
}
