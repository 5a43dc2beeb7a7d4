import type { FastifyReply, FastifyRequest } from 'fastify'
import { SESSION_TTL_MS } from './accept.service.js'

/**
 * The one cookie that signs a person in, for the hosted pages and the Frontend API alike.
 * httpOnly (page scripts never see it), SameSite=Lax (sent when following a link from an
 * email, not on cross-site form posts), Secure whenever Foyer is served over https.
 */
export const SESSION_COOKIE = '__foyer_session'

/**
 * The browser's secret for the ticket sign-ups it started on the Frontend API and has yet to
 * finish (their password comes in a later request): kept hashed on each, so that only this
 * browser can finish them. The same rules as the session cookie.
 */
export const SIGN_UP_COOKIE = '__foyer_sign_up'
const SIGN_UP_TTL_MS = 24 * 60 * 60 * 1000

function foyerCookie(publicUrl: string, baseName: string, ttlMs: number) {
  const secure = new URL(publicUrl).protocol === 'https:'
  // Under https the __Host- prefix makes browsers refuse the cookie unless it was set by
  // this host itself, Secure, for path /: a sibling subdomain cannot plant it.
  const name = secure ? `__Host-${baseName.slice(2)}` : baseName
  const options = { path: '/', httpOnly: true, sameSite: 'lax' as const, secure }
  return {
    name,
    read: (request: FastifyRequest): string | null => request.cookies?.[name] ?? null,
    set: (reply: FastifyReply, token: string) => reply.setCookie(name, token, { ...options, maxAge: ttlMs / 1000 }),
    clear: (reply: FastifyReply) => reply.clearCookie(name, options),
  }
}

export const sessionCookie = (publicUrl: string) => foyerCookie(publicUrl, SESSION_COOKIE, SESSION_TTL_MS)
export const signUpCookie = (publicUrl: string) => foyerCookie(publicUrl, SIGN_UP_COOKIE, SIGN_UP_TTL_MS)
