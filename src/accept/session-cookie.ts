import type { FastifyReply, FastifyRequest } from 'fastify'
import { SESSION_TTL_MS } from './accept.service.js'

/**
 * The one cookie that signs a person in, for the hosted pages and the Frontend API alike.
 * httpOnly (page scripts never see it), SameSite=Lax (sent when following a link from an
 * email, not on cross-site form posts), Secure whenever Foyer is served over https.
 */
export const SESSION_COOKIE = '__foyer_session'

export function sessionCookie(publicUrl: string) {
  const secure = new URL(publicUrl).protocol === 'https:'
  // Under https the __Host- prefix makes browsers refuse the cookie unless it was set by
  // this host itself, Secure, for path /: a sibling subdomain cannot plant a session.
  const name = secure ? `__Host-${SESSION_COOKIE.slice(2)}` : SESSION_COOKIE
  const options = { path: '/', httpOnly: true, sameSite: 'lax' as const, secure }
  return {
    name,
    read: (request: FastifyRequest): string | null => request.cookies?.[name] ?? null,
    set: (reply: FastifyReply, token: string) => reply.setCookie(name, token, { ...options, maxAge: SESSION_TTL_MS / 1000 }),
    clear: (reply: FastifyReply) => reply.clearCookie(name, options),
  }
}
