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
  const options = { path: '/', httpOnly: true, sameSite: 'lax' as const, secure }
  return {
    read: (request: FastifyRequest): string | null => request.cookies?.[SESSION_COOKIE] ?? null,
    set: (reply: FastifyReply, token: string) => reply.setCookie(SESSION_COOKIE, token, { ...options, maxAge: SESSION_TTL_MS / 1000 }),
    clear: (reply: FastifyReply) => reply.clearCookie(SESSION_COOKIE, options),
  }
}
