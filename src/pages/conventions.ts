import type { FastifyInstance, FastifyReply } from 'fastify'
import { ApiError, type ErrorCode } from '../platform/errors.js'
import { toApiError } from '../platform/http.js'
import type { SafeHtml } from '../platform/html.js'
import type { AcceptService, TicketState } from '../accept/accept.service.js'
import type { Instance } from '../instance/instance.schemas.js'
import { contentSecurityPolicy, setPageHeaders } from './layout.js'
import { messagePage } from './pages.views.js'

export function sendPage(reply: FastifyReply, status: number, page: SafeHtml): FastifyReply {
  return reply.code(status).type('text/html; charset=utf-8').send(page.value)
}

/** A hosted page's own URL, relative: links and form actions stay on whatever host served the page. */
export async function localUrl(accept: AcceptService, instance: Instance, path: string, params: Record<string, string> = {}): Promise<string> {
  const url = new URL(await accept.pageUrl(instance, path, params))
  return url.pathname + url.search
}

const TITLES: Partial<Record<ErrorCode, string>> = {
  resource_not_found: 'Not found',
  ticket_invalid: 'This invitation can no longer be used',
  ticket_expired: 'This invitation has expired',
  organization_invitation_not_pending: 'This invitation can no longer be used',
  organization_invitation_not_found: 'Not found',
  organization_membership_quota_exceeded: 'This organization is full',
  not_allowed_access: 'This invitation is for someone else',
  sign_up_restricted: 'Sign-up is by invitation only',
  too_many_requests: 'Too many attempts',
  verification_failed: 'This sign-up can no longer be completed',
  verification_expired: 'This code has expired',
}

const CSRF_ERRORS = new Set(['FST_CSRF_MISSING_SECRET', 'FST_CSRF_INVALID_TOKEN'])

/**
 * What every plugin serving HTML shares: security headers on every answer (pages, redirects
 * and errors alike), and errors rendered as pages with the error's own status and the
 * ApiError's message for people (`longMessage`). Hooks and handler stay inside the plugin
 * that calls this; the JSON API keeps its JSON errors.
 */
export function usePageConventions(app: FastifyInstance, redirectOrigins: readonly string[]) {
  const csp = contentSecurityPolicy(redirectOrigins)
  app.addHook('onRequest', async (_request, reply) => {
    setPageHeaders(reply, csp)
  })
  app.setErrorHandler((err, request, reply) => {
    const isCsrf = CSRF_ERRORS.has((err as { code?: string }).code ?? '')
    const error = isCsrf
      ? new ApiError(403, 'not_allowed_access', 'invalid form token',
        'This form has expired or was not sent from this site, so nothing was done. Go back, reload the page and try again.')
      : toApiError(err)
    if (error.status >= 500) request.log.error({ err, traceId: request.id }, 'request failed')
    const title = isCsrf ? 'Please try again' : TITLES[error.code] ?? (error.status >= 500 ? 'Something went wrong' : 'This request could not be completed')
    const text = error.status >= 500 ? `${error.longMessage} Trace id: ${request.id}.` : error.longMessage
    return sendPage(reply.headers(error.headers), error.status, messagePage({ app: null, title, text: [text] }))
  })
}

/**
 * The page for a ticket that cannot be used (README, "Hosted pages": a revoked or unknown ticket shows
 * a page that says so, with status 4xx), with the way forward where there is one.
 */
export async function ticketProblem(accept: AcceptService, reply: FastifyReply, state: Exclude<TicketState, { kind: 'usable' }>): Promise<void> {
  if (state.kind === 'unknown') {
    sendPage(reply, 404, messagePage({
      app: null, title: 'This invitation link is not valid',
      text: ['The link may be incomplete (check that you opened all of it), or the invitation was deleted. Ask the person who invited you to send a new one.'],
    }))
    return
  }
  const { instance } = state
  const signIn: [string, string] = [await localUrl(accept, instance, '/sign-in'), 'Sign in']
  // An organization invitation names the organization; an application invitation, the application.
  const into = state.target === 'organization' ? `to join ${state.invitation.organization_name ?? 'the organization'}` : `to ${instance.name}`
  // Each case sends and stops: the reply itself is never resolved (it is thenable).
  switch (state.kind) {
    case 'revoked':
      return void sendPage(reply, 410, messagePage({
        app: instance.name, title: 'This invitation was withdrawn',
        text: [`The invitation ${into} was revoked, so this link no longer works. Ask the person who invited you for a new invitation.`],
        links: [signIn],
      }))
    case 'declined':
      return void sendPage(reply, 410, messagePage({
        app: instance.name, title: 'This invitation was declined',
        text: [`The invitation ${into} was declined, so this link no longer works. If that was a mistake, ask the person who invited you for a new invitation.`],
        links: [signIn],
      }))
    case 'accepted':
      return void sendPage(reply, 410, messagePage({
        app: instance.name, title: 'This invitation has already been accepted',
        text: ['The account for this invitation exists already. Sign in to continue.'],
        links: [signIn],
      }))
    case 'expired':
      return void sendPage(reply, 410, messagePage({
        app: instance.name, title: 'This invitation has expired',
        text: [instance.signUpMode === 'public'
          ? 'You can still create an account without it; you will confirm your email address with a code.'
          : 'Ask the person who invited you for a new invitation.'],
        links: [...(instance.signUpMode === 'public' ? [[await localUrl(accept, instance, '/sign-up'), 'Sign up'] as [string, string]] : []), signIn],
      }))
  }
}
