import type { FastifyReply, FastifyRequest } from 'fastify'
import { OPERATOR_SESSION_TTL_MS, type DashboardService, type Operator } from './dashboard.service.js'

/**
 * The operator's session cookie. Under https the __Host- prefix makes browsers refuse a cookie
 * not set by this very host, Secure, for path /: a sibling subdomain can plant neither a
 * session nor a CSRF secret.
 */
export function operatorSessionCookie(publicUrl: string) {
  const secure = new URL(publicUrl).protocol === 'https:'
  const name = secure ? '__Host-foyer_operator' : '__foyer_operator'
  const options = { path: '/', httpOnly: true, sameSite: 'lax' as const, secure }
  return {
    read: (req: FastifyRequest): string | null => req.cookies?.[name] ?? null,
    set: (reply: FastifyReply, token: string) => reply.setCookie(name, token, { ...options, maxAge: OPERATOR_SESSION_TTL_MS / 1000 }),
    clear: (reply: FastifyReply) => reply.clearCookie(name, options),
  }
}

/**
 * The signed-in operator of a request, or null: the one check behind every operator-only page
 * (the dashboard, the development mailbox).
 */
export function operatorOf(dashboard: Pick<DashboardService, 'session'>, publicUrl: string): (req: FastifyRequest) => Promise<Operator | null> {
  const cookie = operatorSessionCookie(publicUrl)
  return (req) => dashboard.session(cookie.read(req))
}

/** The dashboard's sign-in page, leading back to `next` (a path on this origin) once signed in. */
export const operatorSignIn = (next: string) => `/dashboard/sign-in?next=${encodeURIComponent(next)}`

/** Where sign-in may lead back to: a dashboard or mailbox path on this origin, never elsewhere (no open redirect). */
export function safeNext(value: string | undefined | null): string | null {
  if (!value || !/^\/(?:dashboard|dev\/mailbox)(?:[/?]|$)/.test(value) || /[\\\s]|\/\//.test(value)) return null
  return value
}
