import assert from 'node:assert/strict'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { PUBLIC_URL } from '../helpers/build-app.js'

const unescape = (text: string) =>
  text.replace(/&(amp|lt|gt|quot|#39);/g, (_, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': '\'' }[e]!))

export interface PageForm {
  action: string
  /** Every named input with its value (hidden ones included: the CSRF token, the ticket). */
  fields: Record<string, string>
}

/** The `index`th form of a page, as a browser would submit it. */
export function formOf(body: string, index = 0): PageForm {
  const forms = [...body.matchAll(/<form method="post" action="([^"]*)">([\s\S]*?)<\/form>/g)]
  const form = forms[index]
  assert.ok(form, `the page has no form #${index}:\n${body}`)
  const fields: Record<string, string> = {}
  for (const [input] of form[2]!.matchAll(/<input [^>]*>/g)) {
    const name = /\sname="([^"]*)"/.exec(input)?.[1]
    if (name) fields[unescape(name)] = unescape(/\svalue="([^"]*)"/.exec(input)?.[1] ?? '')
  }
  return { action: unescape(form[1]!), fields }
}

/** The text a person reads: tags dropped, entities decoded, whitespace collapsed. */
export const textOf = (body: string) => unescape(body
  .replace(/<head>[\s\S]*?<\/head>/, '')
  .replace(/<\/?(?:strong|em|a|span)\b[^>]*>/g, '')
  .replace(/<[^>]+>/g, ' ')).replace(/\s+/g, ' ').trim()

/** A relative path for app.inject from a Location header or a link (absolute on the public URL or not). */
export const pathOf = (url: string) => (url.startsWith(PUBLIC_URL) ? url.slice(PUBLIC_URL.length) : url)

/**
 * A browser in miniature over app.inject: it keeps cookies, and submits a page's forms with
 * their hidden fields. Each one has its own client address, so rate limits per IP stay
 * per test.
 */
export function browser(app: FastifyInstance, remoteAddress = `10.0.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`) {
  const jar = new Map<string, string>()
  async function send(method: 'GET' | 'POST', url: string, form?: Record<string, string>): Promise<LightMyRequestResponse> {
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ')
    const res = await app.inject({
      method, url: pathOf(url), remoteAddress,
      headers: { ...(cookie ? { cookie } : {}), ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
      ...(form ? { payload: new URLSearchParams(form).toString() } : {}),
    })
    for (const c of res.cookies as { name: string; value: string; maxAge?: number; expires?: Date }[]) {
      if (c.maxAge === 0 || (c.expires && c.expires.getTime() <= Date.now())) jar.delete(c.name)
      else jar.set(c.name, c.value)
    }
    return res
  }
  return {
    jar,
    remoteAddress,
    get: (url: string) => send('GET', url),
    post: (url: string, form: Record<string, string>) => send('POST', url, form),
    /** Submits the page's form #`index`, with `changes` typed into it. */
    submit: (page: LightMyRequestResponse, changes: Record<string, string> = {}, index = 0) => {
      const form = formOf(page.body, index)
      return send('POST', form.action, { ...form.fields, ...changes })
    },
    /** Follows one redirect, asserting it is a 303. */
    follow: (res: LightMyRequestResponse) => {
      assert.equal(res.statusCode, 303, `expected a 303, got ${res.statusCode}:\n${res.body}`)
      return send('GET', String(res.headers.location))
    },
  }
}

export type Browser = ReturnType<typeof browser>

/**
 * A redirect into the application after a sign-in: the page asked for, carrying a handshake
 * nonce so that the application's first request is signed in. Answers the page without it.
 */
export function intoApplication(location: unknown): string {
  const url = new URL(String(location))
  const nonce = url.searchParams.get('__clerk_handshake_nonce')
  if (!nonce || nonce.length < 32) throw new Error(`${String(location)} carries no handshake nonce`)
  url.searchParams.delete('__clerk_handshake_nonce')
  return url.href
}
