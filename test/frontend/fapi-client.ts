import type { FastifyInstance } from 'fastify'
import { SESSION_COOKIE } from '../../src/accept/session-cookie.js'
import assert from 'node:assert/strict'
import type { TestApp } from '../helpers/build-app.js'
import { assertMatchesFapi } from '../helpers/spec.js'

export interface FapiReply<T = any> {
  status: number
  body: T
  headers: Record<string, string | string[] | number | undefined>
  /** The session token the answer set, '' when it cleared the cookie, null when it did not touch it. */
  session: string | null
  /** Every cookie the answer set, by name ('' for one it cleared). */
  cookies: Record<string, string>
}

export interface FapiOptions {
  /** A session token to send as the cookie. */
  session?: string | null
  /** More cookies to send, by name. */
  cookies?: Record<string, string>
  /** Sent as the Origin header. */
  origin?: string
  /** Form-encoded (as Clerk's own clients send) instead of JSON. */
  form?: boolean
  /** `?instance=` */
  instance?: string
  headers?: Record<string, string>
  remoteAddress?: string
}

function sessionSet(setCookie: string | string[] | number | undefined): string | null {
  for (const line of [setCookie ?? []].flat()) {
    const m = new RegExp(`^${SESSION_COOKIE}=([^;]*)`).exec(String(line))
    if (m) return decodeURIComponent(m[1]!)
  }
  return null
}

/** The Frontend API as a browser page would call it: no secret key; a cookie, an origin. */
export function fapi(app: FastifyInstance) {
  const send = async <T = any>(method: 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'OPTIONS', path: string, body?: Record<string, unknown>, o: FapiOptions = {}): Promise<FapiReply<T>> => {
    const url = o.instance ? `${path}${path.includes('?') ? '&' : '?'}instance=${o.instance}` : path
    const headers: Record<string, string> = { ...o.headers }
    const cookies = { ...(o.session ? { [SESSION_COOKIE]: o.session } : {}), ...o.cookies }
    if (Object.keys(cookies).length > 0) headers.cookie = Object.entries(cookies).map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('; ')
    if (o.origin) headers.origin = o.origin
    let payload: string | undefined
    if (body !== undefined) {
      if (o.form) {
        headers['content-type'] = 'application/x-www-form-urlencoded'
        payload = new URLSearchParams(Object.entries(body).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)])).toString()
      } else {
        headers['content-type'] = 'application/json'
        payload = JSON.stringify(body)
      }
    }
    const res = await app.inject({ method, url, headers, ...(payload === undefined ? {} : { payload }), ...(o.remoteAddress ? { remoteAddress: o.remoteAddress } : {}) })
    return {
      status: res.statusCode, body: res.body ? JSON.parse(res.body) : undefined, headers: res.headers, session: sessionSet(res.headers['set-cookie']),
      cookies: Object.fromEntries([res.headers['set-cookie'] ?? []].flat().map((line) => /^([^=]+)=([^;]*)/.exec(String(line))).filter((m) => m !== null)
        .map((m) => [m[1]!, decodeURIComponent(m[2]!)])),
    }
  }
  return {
    get: <T = any>(path: string, o?: FapiOptions) => send<T>('GET', path, undefined, o),
    post: <T = any>(path: string, body?: Record<string, unknown>, o?: FapiOptions) => send<T>('POST', path, body, o),
    patch: <T = any>(path: string, body?: Record<string, unknown>, o?: FapiOptions) => send<T>('PATCH', path, body, o),
    delete: <T = any>(path: string, o?: FapiOptions) => send<T>('DELETE', path, undefined, o),
    options: (path: string, o?: FapiOptions) => send('OPTIONS', path, undefined, o),
  }
}

export type Fapi = ReturnType<typeof fapi>

/** The ticket inside an invitation's link. */
export const ticketOf = (invitation: { url: string }) => new URL(invitation.url).searchParams.get('ticket')!

/** The outbox rows an instance has queued, by topic. */
export async function outboxTopics(t: TestApp, instanceId: string): Promise<string[]> {
  const rows = await t.db.query<{ topic: string }>('select topic from outbox where instance_id = $1 order by created_at, topic', [instanceId])
  return rows.map((r) => r.topic)
}

/** A refusal in Clerk's error shape: its status, its code, the parameter it names, valid against the reference FAPI spec. */
export function assertClerkError(res: FapiReply, status: number, code: string, param?: string) {
  assert.equal(res.status, status, JSON.stringify(res.body))
  assert.equal(res.body.errors[0].code, code, JSON.stringify(res.body))
  if (param !== undefined) assert.equal(res.body.errors[0].meta?.param_name, param)
  assertMatchesFapi('ClerkErrors', res.body)
}
