import { Type } from 'typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { AcceptService } from '../accept/accept.service.js'
import { ticketProblem, usePageConventions } from '../pages/conventions.js'

/**
 * The invitation link, `/v1/tickets/accept?ticket=…` (CONTRACT.md, "Links and hosted pages").
 * Public, and read-only: mail scanners and link previews open links too, so following it
 * never consumes the ticket; only completing sign-up or sign-in does.
 */
export const ticketRoutes = (deps: { accept: AcceptService; allowedRedirectOrigins: readonly string[] }): FastifyPluginAsyncTypebox => async (app) => {
  usePageConventions(app, deps.allowedRedirectOrigins)

  app.get('/v1/tickets/accept', {
    schema: { hide: true, querystring: Type.Object({ ticket: Type.Optional(Type.String()) }) },
  }, async (req, reply) => {
    const target = await deps.accept.linkTarget(req.query.ticket ?? '')
    if ('redirect' in target) return reply.redirect(target.redirect, 303)
    if (target.state.kind === 'usable') throw new Error('linkTarget answered a usable ticket without a redirect')
    return ticketProblem(deps.accept, reply, target.state)
  })
}
