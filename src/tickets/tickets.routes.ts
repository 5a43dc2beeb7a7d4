import { Type } from 'typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { AcceptService } from '../accept/accept.service.js'
import { sessionCookie } from '../accept/session-cookie.js'
import { ticketProblem, usePageConventions } from '../pages/conventions.js'

/**
 * The invitation link, `/v1/tickets/accept?ticket=…` (README, "Hosted pages").
 * Public, and read-only: mail scanners and link previews open links too, so following it
 * never consumes the ticket; only completing sign-up or sign-in (or answering on `/accept`) does.
 */
export const ticketRoutes = (deps: { accept: AcceptService; allowedRedirectOrigins: readonly string[] }): FastifyPluginAsyncTypebox => async (app) => {
  usePageConventions(app, deps.allowedRedirectOrigins)
  const cookie = sessionCookie(deps.accept.publicUrl)

  app.get('/v1/tickets/accept', {
    schema: { hide: true, querystring: Type.Object({ ticket: Type.Optional(Type.String()) }) },
  }, async (req, reply) => {
    // The session decides only where the link leads (someone signed in as the invited address
    // goes to /accept); the pages there check it again before anything changes.
    const target = await deps.accept.linkTarget(req.query.ticket ?? '', cookie.read(req))
    if ('redirect' in target) return reply.redirect(target.redirect, 303)
    if (target.state.kind === 'usable') throw new Error('linkTarget answered a usable ticket without a redirect')
    return ticketProblem(deps.accept, reply, target.state)
  })
}
