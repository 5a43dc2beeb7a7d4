import { after, before, it } from 'node:test'
import assert from 'node:assert/strict'
import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import { buildTestApp, client, uniqueEmail, type Client, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { makeInvitation } from '../helpers/factories.js'

const DAY_MS = 24 * 60 * 60 * 1000
const FORM = 'application/x-www-form-urlencoded'

/** Why a response breaks the contract's error conventions, or null when it keeps them. */
function clerkShapeProblem(res: LightMyRequestResponse): string | null {
  if (res.statusCode >= 500) return `status ${res.statusCode}`
  if (res.headers['content-type'] !== 'application/json') return `content-type ${String(res.headers['content-type'])}`
  if (res.statusCode < 400) return null
  let body: any
  try {
    body = JSON.parse(res.payload)
  } catch {
    return 'body is not JSON'
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) return 'body is not an object'
  if (Object.keys(body).sort().join() !== 'clerk_trace_id,errors') return `top-level keys ${Object.keys(body).join()}`
  if (typeof body.clerk_trace_id !== 'string' || body.clerk_trace_id === '') return 'no clerk_trace_id'
  if (!Array.isArray(body.errors) || body.errors.length === 0) return 'errors is not a non-empty array'
  for (const e of body.errors) {
    if (typeof e.message !== 'string' || typeof e.long_message !== 'string' || typeof e.code !== 'string') return 'error lacks message/long_message/code'
    if (Object.keys(e).some((k) => !['message', 'long_message', 'code', 'meta'].includes(k))) return `error has keys ${Object.keys(e).join()}`
    if ('meta' in e && (e.meta === null || typeof e.meta !== 'object' || Array.isArray(e.meta))) return 'meta is not an object'
  }
  return null
}

function assertClerkError(res: LightMyRequestResponse, status: number, code: string, param?: string | RegExp) {
  assert.equal(res.statusCode, status, res.payload.slice(0, 500))
  assert.equal(clerkShapeProblem(res), null, res.payload.slice(0, 500))
  const error = JSON.parse(res.payload).errors[0]
  assert.equal(error.code, code, res.payload.slice(0, 500))
  if (typeof param === 'string') assert.equal(error.meta?.param_name, param, res.payload.slice(0, 500))
  else if (param) assert.match(String(error.meta?.param_name), param, res.payload.slice(0, 500))
  return error
}

forEachDatabase('HTTP conventions', (engine) => {
  let t: TestApp
  let api: Client
  let secretKey: string
  before(async () => {
    t = await buildTestApp({ engine })
    secretKey = (await t.newInstance()).secretKey
    api = client(t.app, secretKey)
    // These tests send many creates; the rate limits have their own suite.
    await api.patch('/v1/instance', { rate_limits: { create_invitation: 0, create_invitation_bulk: 0 } })
  })
  after(() => t.close())

  const send = (method: InjectOptions['method'], url: string, payload?: string, contentType?: string) => t.app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${secretKey}`, ...(contentType ? { 'content-type': contentType } : {}) },
    ...(payload === undefined ? {} : { payload }),
  })
  const sendJson = (method: InjectOptions['method'], url: string, body: unknown) => send(method, url, JSON.stringify(body), 'application/json')

  it('GET on an unknown route answers 404 resource_not_found in Clerk\'s shape, with or without a key', async () => {
    assertClerkError(await send('GET', '/v1/no-such-thing'), 404, 'resource_not_found')
    assertClerkError(await t.app.inject({ method: 'GET', url: '/v1/no-such-thing' }), 404, 'resource_not_found')
    assertClerkError(await t.app.inject({ method: 'GET', url: '/' }), 404, 'resource_not_found')
    assertClerkError(await send('DELETE', '/v1/instance'), 404, 'resource_not_found')
    assertClerkError(await send('PUT', '/v1/invitations'), 404, 'resource_not_found')
  })

  it('POST /v1/invitations with malformed JSON answers 400 request_body_invalid', async () => {
    for (const payload of ['{"email_address":', '{,}', '{\'email_address\':\'a@example.com\'}', '[1,]', 'nul', '{"a":1}}']) {
      assertClerkError(await send('POST', '/v1/invitations', payload, 'application/json'), 400, 'request_body_invalid')
    }
  })

  it('POST /v1/invitations with a content type other than JSON or form answers 415 unsupported_content_type', async () => {
    for (const type of ['text/plain', 'application/xml', 'text/html', 'multipart/form-data; boundary=x', 'application/octet-stream']) {
      const res = await send('POST', '/v1/invitations', 'email_address=a@example.com', type)
      assert.equal(res.statusCode, 415, `${type}: ${res.statusCode} ${res.payload}`)
      assertClerkError(res, 415, 'unsupported_content_type')
    }
  })

  it('POST /v1/invitations with a body but no Content-Type answers 415', async () => {
    assertClerkError(await send('POST', '/v1/invitations', '{"email_address":"a@example.com"}'), 415, 'unsupported_content_type')
  })

  it('POST /v1/invitations with a body over the size limit answers 413', async () => {
    const big = JSON.stringify({ email_address: uniqueEmail(), public_metadata: { blob: 'x'.repeat(2 * 1024 * 1024) } })
    const res = await send('POST', '/v1/invitations', big, 'application/json')
    assert.equal(res.statusCode, 413)
    assert.equal(clerkShapeProblem(res), null)
    const form = await send('POST', '/v1/invitations', `email_address=a%40example.com&x=${'y'.repeat(2 * 1024 * 1024)}`, FORM)
    assert.equal(form.statusCode, 413)
    assert.equal(clerkShapeProblem(form), null)
  })

  it('POST /v1/invitations form-encoded converts notify, expires_in_days and public_metadata', async () => {
    const email = uniqueEmail('form')
    const body = new URLSearchParams({ email_address: email, notify: 'false', expires_in_days: '7', public_metadata: '{"a":1}' }).toString()
    const res = await send('POST', '/v1/invitations', body, FORM)
    assert.equal(res.statusCode, 200, res.payload)
    assert.equal(res.headers['content-type'], 'application/json')
    const inv = JSON.parse(res.payload)
    assert.equal(inv.object, 'invitation')
    assert.equal(inv.email_address, email)
    assert.deepEqual(inv.public_metadata, { a: 1 })
    assert.equal(inv.status, 'pending')
    assert.equal(inv.expires_at - inv.created_at, 7 * DAY_MS)
    // notify=false: nothing is queued for the recipient; notify=true (the control) queues an email.
    const notified = JSON.parse((await send('POST', '/v1/invitations', new URLSearchParams({ email_address: uniqueEmail('form'), notify: 'true' }).toString(), FORM)).payload)
    const emailsFor = async (id: string) => (await t.db.query<{ n: number }>(`select count(*)::int as n from outbox where subject_id = $1 and kind = 'email'`, [id]))[0]!.n
    assert.equal(await emailsFor(inv.id), 0)
    assert.equal(await emailsFor(notified.id), 1)
  })

  // @see issue 12
  it('POST /v1/invitations refuses __proto__ and constructor.prototype keys with 422 naming the key, not as invalid JSON', async () => {
    const cases: [string, string][] = [
      ['{"__proto__":{"polluted":1},"email_address":"a@example.com"}', '__proto__'],
      ['{"email_address":"a@example.com","public_metadata":{"plan":{"__proto__":{"polluted":1}}}}', 'public_metadata.plan.__proto__'],
      ['{"constructor":{"prototype":{"polluted":1}},"email_address":"a@example.com"}', 'constructor.prototype'],
    ]
    for (const [payload, param] of cases) {
      const res = await send('POST', '/v1/invitations', payload, 'application/json')
      assertClerkError(res, 422, 'form_param_value_invalid', param)
      assert.match(JSON.parse(res.payload).errors[0].long_message, /is not allowed/)
      assert.doesNotMatch(res.payload, /not valid JSON/)
    }
    const bulk = await send('POST', '/v1/invitations/bulk', '[{"email_address":"a@example.com"},{"email_address":"b@example.com","public_metadata":{"__proto__":{}}}]', 'application/json')
    assertClerkError(bulk, 422, 'form_param_value_invalid', '[1].public_metadata.__proto__')
    const form = await send('POST', '/v1/invitations', new URLSearchParams({ email_address: uniqueEmail(), public_metadata: '{"__proto__":{"x":1}}' }).toString(), FORM)
    assertClerkError(form, 422, 'form_param_value_invalid', 'public_metadata.__proto__')
    // A key that merely mentions the word, or a constructor without prototype, is ordinary data.
    assert.equal((await sendJson('POST', '/v1/invitations', { email_address: uniqueEmail(), notify: false, public_metadata: { proto: 1, constructor: 'x' } })).statusCode, 200)
    assert.equal(({} as Record<string, unknown>).polluted, undefined)
  })

  it('POST /v1/invitations form-encoded refuses values that do not convert with 422 naming the param', async () => {
    const cases: [Record<string, string>, string][] = [
      [{ email_address: uniqueEmail(), notify: 'maybe' }, 'notify'],
      [{ email_address: uniqueEmail(), expires_in_days: 'seven' }, 'expires_in_days'],
      [{ email_address: uniqueEmail(), public_metadata: '{bad json' }, 'public_metadata'],
      [{ email_address: uniqueEmail(), public_metadata: '[1,2]' }, 'public_metadata'],
      [{ email_address: 'not-an-email' }, 'email_address'],
    ]
    for (const [fields, param] of cases) {
      const res = await send('POST', '/v1/invitations', new URLSearchParams(fields).toString(), FORM)
      assert.equal(res.statusCode, 422, `${JSON.stringify(fields)}: ${res.payload}`)
      assertClerkError(res, 422, JSON.parse(res.payload).errors[0].code, param)
    }
  })

  it('PATCH /v1/instance form-encoded applies rate_limits sent as JSON text', async () => {
    const other = await t.newInstance()
    const res = await t.app.inject({
      method: 'PATCH', url: '/v1/instance', payload: 'application_name=Form+App&rate_limits=%7B%22create_invitation%22%3A3%7D',
      headers: { authorization: `Bearer ${other.secretKey}`, 'content-type': FORM },
    })
    assert.equal(res.statusCode, 200, res.payload)
    const settings = JSON.parse(res.payload)
    assert.equal(settings.application_name, 'Form App')
    assert.equal(settings.rate_limits.create_invitation, 3)
  })

  it('refuses NUL characters and lone surrogates in bodies with 422 naming the param (never 500)', async () => {
    const cases: [string, string, string, string | RegExp][] = [
      ['POST', '/v1/invitations', JSON.stringify({ email_address: 'a\u0000b@example.com' }), 'email_address'],
      ['POST', '/v1/invitations', '{"email_address":"a\\ud800b@example.com"}', 'email_address'],
      ['POST', '/v1/invitations', '{"email_address":"a\\udc00b@example.com"}', 'email_address'],
      ['POST', '/v1/invitations', JSON.stringify({ email_address: uniqueEmail(), public_metadata: { note: 'x\u0000y' } }), /^public_metadata/],
      ['POST', '/v1/invitations', `{"email_address":"${uniqueEmail()}","public_metadata":{"list":["ok","\\ud83d"]}}`, /^public_metadata/],
      ['POST', '/v1/invitations', JSON.stringify({ email_address: uniqueEmail(), public_metadata: { 'bad\u0000key': 1 } }), /^public_metadata/],
      ['POST', '/v1/invitations', `{"email_address":"${uniqueEmail()}","public_metadata":{"\\udfffkey":1}}`, /^public_metadata/],
      ['POST', '/v1/invitations', JSON.stringify({ email_address: uniqueEmail(), redirect_url: 'https://app.example.com/\u0000' }), 'redirect_url'],
      ['POST', '/v1/invitations/bulk', JSON.stringify([{ email_address: uniqueEmail() }, { email_address: 'x\u0000@example.com' }]), /email_address/],
      ['PATCH', '/v1/instance', JSON.stringify({ application_name: 'App\u0000' }), 'application_name'],
      ['PATCH', '/v1/instance', '{"home_url":"https://app.example.com/\\ud800"}', 'home_url'],
    ]
    for (const [method, url, payload, param] of cases) {
      const res = await send(method as InjectOptions['method'], url, payload, 'application/json')
      assert.equal(res.statusCode, 422, `${method} ${url} ${payload.slice(0, 120)}: ${res.statusCode} ${res.payload}`)
      assertClerkError(res, 422, JSON.parse(res.payload).errors[0].code, param)
    }
    const form = await send('POST', '/v1/invitations', 'email_address=a%00b%40example.com', FORM)
    assertClerkError(form, 422, JSON.parse(form.payload).errors[0].code, 'email_address')
  })

  it('GET /v1/invitations refuses NUL characters in the query string with 422 naming the param', async () => {
    for (const [qs, param] of [['query=a%00b', 'query'], ['order_by=%00created_at', 'order_by'], ['status=pend%00ing', 'status']] as const) {
      const res = await send('GET', `/v1/invitations?${qs}`)
      assert.equal(res.statusCode, 422, `${qs}: ${res.payload}`)
      assertClerkError(res, 422, JSON.parse(res.payload).errors[0].code, param)
    }
  })

  it('GET /v1/invitations answers a query string with invalid UTF-8 without a 5xx', async () => {
    for (const qs of ['query=%ED%A0%80', 'query=%FF', 'query=%C0%AF', 'query=%', 'query=%ZZ', 'query=%E2%82']) {
      const res = await send('GET', `/v1/invitations?${qs}`)
      assert.ok(res.statusCode < 500, `${qs}: ${res.statusCode}`)
      assert.equal(clerkShapeProblem(res), null, `${qs}: ${res.payload}`)
    }
  })

  it('POST /v1/invitations refuses deeply nested public_metadata with 422 and accepts moderate nesting', async () => {
    let deep: unknown = 'leaf'
    for (let i = 0; i < 40; i++) deep = { a: deep }
    assertClerkError(await sendJson('POST', '/v1/invitations', { email_address: uniqueEmail(), public_metadata: deep }), 422, 'form_param_value_invalid', /^public_metadata/)
    const arrays = '['.repeat(100_000) + ']'.repeat(100_000)
    const res = await send('POST', '/v1/invitations', `{"email_address":"${uniqueEmail()}","public_metadata":{"a":${arrays}}}`, 'application/json')
    assert.equal(res.statusCode, 422, res.payload.slice(0, 300))
    assert.equal(clerkShapeProblem(res), null)
    let moderate: unknown = 'leaf'
    for (let i = 0; i < 10; i++) moderate = { a: moderate }
    const ok = await sendJson('POST', '/v1/invitations', { email_address: uniqueEmail(), public_metadata: moderate })
    assert.equal(ok.statusCode, 200, ok.payload)
    assert.deepEqual(JSON.parse(ok.payload).public_metadata, moderate)
  })

  it('GET /v1/invitations with an unknown order_by answers 422 naming order_by, as application/json', async () => {
    for (const orderBy of ['bogus', 'a%40b.co', '-id', 'created_at;drop']) {
      const res = await send('GET', `/v1/invitations?order_by=${orderBy}`)
      assertClerkError(res, 422, 'form_param_value_invalid', 'order_by')
    }
  })

  it('GET /v1/invitations with an offset beyond any row answers without a 5xx', async () => {
    await makeInvitation(api)
    for (const offset of ['10000000000000000', '9223372036854775807', '10000000000000000000', '100000000000000000000', '1e21']) {
      const res = await send('GET', `/v1/invitations?offset=${offset}&paginated=true`)
      assert.ok(res.statusCode === 200 || res.statusCode === 422, `offset=${offset}: ${res.statusCode} ${res.payload}`)
      assert.equal(clerkShapeProblem(res), null, `offset=${offset}: ${res.payload}`)
      if (res.statusCode === 200) assert.deepEqual(JSON.parse(res.payload).data, [])
      else assert.equal(JSON.parse(res.payload).errors[0].meta?.param_name, 'offset')
    }
  })

  it('POST /v1/invitations/{id}/revoke with a malformed percent-encoding in the id answers 4xx in Clerk\'s shape', async () => {
    for (const url of ['/v1/invitations/%ZZ/revoke', '/v1/invitations/%E0%A4%A/revoke', '/v1/invitations/%']) {
      const res = await send(url.endsWith('revoke') ? 'POST' : 'DELETE', url)
      assert.ok(res.statusCode >= 400 && res.statusCode < 500, `${url}: ${res.statusCode}`)
      assert.equal(clerkShapeProblem(res), null, `${url}: ${res.payload}`)
    }
  })

  it('GET /v1/health answers {"status":"ok"} without a key', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/v1/health' })
    assert.equal(res.statusCode, 200)
    assert.equal(res.headers['content-type'], 'application/json')
    assert.deepEqual(JSON.parse(res.payload), { status: 'ok' })
  })

  it('GET /v1/openapi.json serves an OpenAPI 3 document with the invitations and instance paths and their request schemas', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/v1/openapi.json' })
    assert.equal(res.statusCode, 200)
    assert.equal(res.headers['content-type'], 'application/json')
    const doc = JSON.parse(res.payload)
    assert.match(doc.openapi, /^3\.\d+\.\d+$/)
    assert.equal(typeof doc.info?.title, 'string')
    const ops: Record<string, string[]> = {
      '/v1/invitations': ['get', 'post'],
      '/v1/invitations/bulk': ['post'],
      '/v1/invitations/{invitation_id}/revoke': ['post'],
      '/v1/invitations/{invitation_id}': ['delete'],
      '/v1/instance': ['get', 'patch'],
      '/v1/jwks': ['get'],
      '/v1/jwks/rotate': ['post'],
      '/v1/sessions': ['get'],
      '/v1/sessions/{session_id}': ['get'],
      '/v1/sessions/{session_id}/revoke': ['post'],
      '/v1/sessions/{session_id}/tokens': ['post'],
    }
    for (const [path, methods] of Object.entries(ops)) {
      for (const method of methods) assert.ok(doc.paths?.[path]?.[method], `${method.toUpperCase()} ${path} is missing`)
    }
    const bodySchema = (path: string, method: string) => doc.paths[path][method].requestBody?.content?.['application/json']?.schema

    const create = bodySchema('/v1/invitations', 'post')
    assert.equal(create?.type, 'object')
    assert.deepEqual(Object.keys(create.properties).sort(),
      ['email_address', 'expires_in_days', 'ignore_existing', 'notify', 'public_metadata', 'redirect_url', 'template_slug'])
    assert.deepEqual(create.required, ['email_address'])

    const bulk = bodySchema('/v1/invitations/bulk', 'post')
    assert.equal(bulk?.type, 'array')
    assert.ok(bulk.items?.properties?.email_address, 'bulk items describe email_address')

    const patch = bodySchema('/v1/instance', 'patch')
    assert.equal(patch?.type, 'object')
    assert.deepEqual(Object.keys(patch.properties).sort(), ['after_sign_up_url', 'allowed_redirect_origins', 'application_name', 'home_url', 'rate_limits', 'remind_before_expiry_days', 'sign_up_mode', 'user_lockout', 'username'])
    assert.deepEqual(Object.keys(patch.properties.rate_limits.properties).sort(),
      ['create_invitation', 'create_invitation_bulk', 'create_organization_invitation', 'create_organization_invitation_bulk'])

    const params = (doc.paths['/v1/invitations'].get.parameters ?? []).map((p: { name: string; in: string }) => `${p.in}:${p.name}`).sort()
    for (const name of ['limit', 'offset', 'order_by', 'paginated', 'query', 'status']) assert.ok(params.includes(`query:${name}`), `query parameter ${name}`)

    // Every $ref points somewhere inside the document.
    const refs: string[] = []
    const walk = (node: unknown) => {
      if (Array.isArray(node)) node.forEach(walk)
      else if (node && typeof node === 'object') {
        for (const [k, v] of Object.entries(node)) {
          if (k === '$ref' && typeof v === 'string') refs.push(v)
          else walk(v)
        }
      }
    }
    walk(doc)
    for (const ref of refs) {
      assert.match(ref, /^#\//, `external $ref ${ref}`)
      const target = ref.slice(2).split('/').reduce<any>((node, part) => node?.[part.replace(/~1/g, '/').replace(/~0/g, '~')], doc)
      assert.ok(target, `$ref ${ref} does not resolve`)
    }
  })
})

// ---------------------------------------------------------------------------------------
// Fuzzing: hostile bodies and query strings must never produce a 5xx, and every error must
// keep Clerk's shape. Deterministic (seeded) so that a failure can be replayed.
// ---------------------------------------------------------------------------------------

const FUZZ_SEED = Number(process.env.FOYER_FUZZ_SEED) || 0x5eed_2026
const FUZZ_CASES = Number(process.env.FOYER_FUZZ_CASES) || 300

function mulberry32(seed: number) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A JSON fragment written verbatim: numbers and escapes JSON.stringify cannot produce. */
class Raw {
  constructor(readonly text: string) {}
}

function serialize(value: unknown): string {
  if (value instanceof Raw) return value.text
  if (Array.isArray(value)) return `[${value.map(serialize).join(',')}]`
  if (value && typeof value === 'object') return `{${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}:${serialize(v)}`).join(',')}}`
  return JSON.stringify(value) ?? 'null'
}

const HOSTILE_STRINGS = [
  '', ' ', '\t', 'a@b.co', 'UPPER@EXAMPLE.COM', ' padded@example.com ', '\u0000', 'a\u0000@b.co', '\ud800', 'x\udfff@b.co',
  '😀@example.com', 'ü@example.com', '\u202e@b.co', '\ufeff', '\uffff', 'x'.repeat(5000), `a@${'b'.repeat(300)}.com`,
  `${'l'.repeat(65)}@example.com`, '%00', '%', '\\', '\\\\%_', "'; drop table invitations; --", '" or 1=1 --', '${jndi:ldap://x}',
  '<script>alert(1)</script>', '__proto__', 'constructor', 'prototype', 'toString', 'null', 'true', '1e400', 'NaN', '-0',
  'inv_' + 'A'.repeat(27), 'javascript:alert(1)', 'http://localhost:99999/', 'https://app.example.com/welcome',
  'http://[::1]/', 'http://user:pw@localhost:3000/', 'data:text/html,x', 'https://app.example.com.evil.net/',
  'https://APP.EXAMPLE.COM:443/x', 'http://localhost:5173/cb?x=1#frag', '//app.example.com/x', 'a@b.co\r\nBcc: x@evil.com',
  'pending', 'expired', 'revoked', 'accepted', '-created_at', '+email_address', 'expires_at', 'waitlist', 'restricted',
  'public', 'invitation', 'waitlist_invitation', '{}', '[]', '{"a":1}',
]
const HOSTILE_NUMBERS = [0, -0, 1, -1, 7, 1.5, 30, 365, 366, 500, 501, 1e6, 1e6 + 1, 2 ** 31, 2 ** 53, 2 ** 53 + 2, 1e21, 1e308, -1e308, 5e-324]
const NUMERIC_TEXT = ['0', '1', '-1', '500', '501', '1.0', '1.5', '1e3', '1e21', '1e400', '-0', '0x10', ' 1', '', '9007199254740993',
  '9223372036854775807', '9223372036854775808', '99999999999999999999999', 'Infinity', 'NaN']
const RAW_FRAGMENTS = [
  '1e400', '-1e400', '123456789012345678901234567890', '0.0000000000000000000001', '"\\u0000"', '"\\ud800"', '"\\udc00x"',
  '{"__proto__":{"polluted":1}}', '{"constructor":{"prototype":{"polluted":1}}}', '[[[[[[[[[[]]]]]]]]]]', '"\\\\u0000"',
]

function fuzzer(seed: number) {
  const random = mulberry32(seed)
  const int = (n: number) => Math.floor(random() * n)
  const chance = (p: number) => random() < p
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!

  const randomText = () => {
    const ranges: [number, number][] = [[0x20, 0x7e], [0x00, 0x1f], [0xd800, 0xdfff], [0x80, 0x7ff], [0xfff0, 0xffff], [0x300, 0x36f]]
    let out = ''
    for (let i = int(24); i > 0; i--) {
      const [lo, hi] = pick(ranges)
      out += String.fromCharCode(lo + int(hi - lo + 1))
    }
    if (chance(0.1)) out += String.fromCodePoint(0x1f600 + int(80))
    return out
  }
  const string = () => (chance(0.6) ? pick(HOSTILE_STRINGS) : randomText())

  const value = (depth = 0): unknown => {
    const roll = int(depth > 3 ? 5 : 9)
    switch (roll) {
      case 0: return string()
      case 1: return pick(HOSTILE_NUMBERS)
      case 2: return chance(0.5)
      case 3: return null
      case 4: return new Raw(pick(RAW_FRAGMENTS))
      case 5: return Array.from({ length: int(5) }, () => value(depth + 1))
      case 6: {
        const obj: Record<string, unknown> = {}
        for (let i = int(5); i > 0; i--) obj[chance(0.7) ? randomText() : pick(HOSTILE_STRINGS)] = value(depth + 1)
        return obj
      }
      case 7: {
        let deep: unknown = string()
        for (let i = 20 + int(30); i > 0; i--) deep = chance(0.5) ? [deep] : { k: deep }
        return deep
      }
      default: return string()
    }
  }

  const plausible: Record<string, () => unknown> = {
    email_address: () => (chance(0.7) ? uniqueEmail('fuzz') : string()),
    public_metadata: () => (chance(0.5) ? { plan: 'pro', n: int(100) } : value()),
    redirect_url: () => (chance(0.5) ? pick(['https://app.example.com/welcome', 'http://localhost:3000/x', null]) : string()),
    notify: () => (chance(0.6) ? chance(0.5) : value()),
    ignore_existing: () => (chance(0.6) ? chance(0.5) : value()),
    expires_in_days: () => (chance(0.5) ? 1 + int(365) : chance(0.5) ? pick(HOSTILE_NUMBERS) : value()),
    template_slug: () => (chance(0.6) ? pick(['invitation', 'waitlist_invitation', null]) : value()),
  }
  const createBody = (): unknown => {
    if (chance(0.05)) return value()
    const body: Record<string, unknown> = {}
    for (const [key, make] of Object.entries(plausible)) if (key === 'email_address' ? chance(0.9) : chance(0.4)) body[key] = make()
    if (chance(0.1)) body[pick(HOSTILE_STRINGS)] = value()
    if (chance(0.05)) return new Raw(serialize(body).replace(/^\{/, '{"__proto__":{"x":1},'))
    return body
  }
  const instanceBody = (): unknown => {
    if (chance(0.05)) return value()
    const body: Record<string, unknown> = {}
    if (chance(0.4)) body.application_name = chance(0.5) ? 'Renamed ' + int(1000) : value()
    if (chance(0.4)) body.sign_up_mode = chance(0.5) ? pick(['public', 'restricted', 'waitlist']) : value()
    if (chance(0.3)) body.home_url = string()
    if (chance(0.3)) body.after_sign_up_url = string()
    if (chance(0.5)) {
      const limits: Record<string, unknown> = {}
      for (const name of ['create_invitation', 'create_invitation_bulk', 'create_organization_invitation', 'create_organization_invitation_bulk']) {
        if (chance(0.4)) limits[name] = chance(0.5) ? int(1000) : pick([...HOSTILE_NUMBERS, ...RAW_FRAGMENTS.map((f) => new Raw(f)), value()])
      }
      body.rate_limits = chance(0.9) ? limits : value()
    }
    if (chance(0.1)) body[pick(HOSTILE_STRINGS)] = value()
    return body
  }

  /** A body as it goes on the wire: mostly JSON, some form-encoded, a little garbage. */
  const encodeBody = (body: unknown): { payload: string; contentType?: string } => {
    const roll = random()
    if (roll < 0.8) return { payload: serialize(body), contentType: pick(['application/json', 'application/json', 'application/json; charset=utf-8']) }
    if (roll < 0.95 && body && typeof body === 'object' && !(body instanceof Raw)) {
      const params = Object.entries(body as Record<string, unknown>).map(([k, v]) => {
        const text = typeof v === 'string' ? v : serialize(v)
        return `${encodeURIComponent(k)}=${chance(0.8) ? encodeURIComponent(text.replace(/[\ud800-\udfff]/g, '?')) : pick(['%', '%ZZ', '%00', '%ED%A0%80', '+', '=&=', text.slice(0, 20)])}`
      })
      return { payload: params.join('&'), contentType: FORM }
    }
    return { payload: chance(0.5) ? randomText() : serialize(value()), contentType: pick(['application/json', FORM, undefined as unknown as string]) }
  }

  const LIST_PARAMS = ['status', 'query', 'order_by', 'paginated', 'limit', 'offset']
  const listQuery = (): string => {
    const parts: string[] = []
    for (let i = 1 + int(4); i > 0; i--) {
      const key = chance(0.85) ? pick(LIST_PARAMS) : pick(HOSTILE_STRINGS.slice(0, 40))
      const raw = (key === 'limit' || key === 'offset') && chance(0.5) ? pick(NUMERIC_TEXT)
        : chance(0.3) ? String(pick(HOSTILE_NUMBERS))
          : chance(0.2) ? pick(['true', 'false', '1', '0', '', '10', '500', '-created_at', 'pending', 'expired']) : string()
      const encoded = chance(0.85) ? encodeURIComponent(raw.replace(/[\ud800-\udfff]/g, '?')) : pick(['%', '%ZZ', '%00', '%ED%A0%80', '%C0%AF', '+', '[]', 'a[b]=c', '&&', '=='])
      parts.push(`${chance(0.95) ? encodeURIComponent(key.replace(/[\ud800-\udfff]/g, '?')) : key.replace(/[^\x21-\x7e]/g, '')}=${encoded}`)
    }
    return parts.join('&')
  }

  return {
    create: () => encodeBody(createBody()),
    bulk: () => {
      const body = chance(0.1) ? value() : Array.from({ length: chance(0.1) ? 11 + int(3) : int(11) }, () => createBody())
      return encodeBody(body)
    },
    instance: () => encodeBody(instanceBody()),
    listQuery,
    idRequest: (): InjectOptions => {
      const id = chance(0.5) ? encodeURIComponent(string().replace(/[\ud800-\udfff]/g, '?')) : pick(['inv_' + 'A'.repeat(27), '%00', '..', '%2F', 'x'.repeat(99), 'x'.repeat(120)])
      return chance(0.5) ? { method: 'POST', url: `/v1/invitations/${id}/revoke` } : { method: 'DELETE', url: `/v1/invitations/${id}` }
    },
  }
}

forEachDatabase('Fuzzing the Backend API', (engine) => {
  let t: TestApp
  let api: Client
  let secretKey: string
  before(async () => {
    t = await buildTestApp({ engine })
    secretKey = (await t.newInstance()).secretKey
    api = client(t.app, secretKey)
    assert.equal((await api.patch('/v1/instance', { rate_limits: { create_invitation: 0, create_invitation_bulk: 0 } })).status, 200)
    for (let i = 0; i < 5; i++) await makeInvitation(api)
  })
  after(() => t.close())

  /** Sends every request and fails once, listing each distinct way the answers broke the rules. */
  async function fuzz(label: string, seed: number, make: (f: ReturnType<typeof fuzzer>) => InjectOptions, key = secretKey) {
    const f = fuzzer(seed)
    const problems = new Map<string, string>()
    for (let i = 0; i < FUZZ_CASES; i++) {
      const request = make(f)
      request.headers = { authorization: `Bearer ${key}`, ...request.headers }
      let problem: string | null
      let res: LightMyRequestResponse | undefined
      try {
        res = await t.app.inject(request)
        problem = clerkShapeProblem(res)
      } catch (err) {
        problem = `inject threw ${String(err)}`
      }
      if (problem) {
        const signature = `${problem} ${res ? JSON.parse(res.payload || '{}')?.errors?.[0]?.code ?? '' : ''}`
        if (!problems.has(signature)) {
          problems.set(signature, `[${problem}] #${i} ${request.method} ${request.url} ${String(request.headers['content-type'] ?? '')} ` +
            `${JSON.stringify(String(request.payload ?? '').slice(0, 200))} -> ${res?.statusCode} ${res?.payload.slice(0, 200)}`)
        }
      }
    }
    assert.deepEqual([...problems.values()], [], `${label} (seed ${seed}): ${problems.size} kinds of bad answers`)
    const health = await t.app.inject({ method: 'GET', url: '/v1/health' })
    assert.equal(health.statusCode, 200)
  }

  const withBody = (method: 'POST' | 'PATCH', url: string, { payload, contentType }: { payload: string; contentType?: string }): InjectOptions =>
    ({ method, url, payload, headers: contentType ? { 'content-type': contentType } : {} })

  it(`POST /v1/invitations answers ${FUZZ_CASES} hostile bodies below 500 and in Clerk's shape`, async () => {
    await fuzz('POST /v1/invitations', FUZZ_SEED, (f) => withBody('POST', '/v1/invitations', f.create()))
  })

  it(`POST /v1/invitations/bulk answers ${FUZZ_CASES} hostile bodies below 500 and in Clerk's shape`, async () => {
    await fuzz('POST /v1/invitations/bulk', FUZZ_SEED + 1, (f) => withBody('POST', '/v1/invitations/bulk', f.bulk()))
  })

  it(`GET /v1/invitations answers ${FUZZ_CASES} hostile query strings below 500 and in Clerk's shape`, async () => {
    await fuzz('GET /v1/invitations', FUZZ_SEED + 2, (f) => ({ method: 'GET', url: `/v1/invitations?${f.listQuery()}` }))
  })

  it(`PATCH /v1/instance answers ${FUZZ_CASES} hostile bodies below 500 and in Clerk's shape`, async () => {
    // An instance of its own, so that the bodies cannot change the limits the other fuzz runs rely on.
    const own = await t.newInstance()
    await fuzz('PATCH /v1/instance', FUZZ_SEED + 3, (f) => withBody('PATCH', '/v1/instance', f.instance()), own.secretKey)
  })

  it('POST /v1/invitations/bulk answers 24 concurrent requests of 10 from one instance with 200, never 500', async () => {
    const own = await t.newInstance()
    const api2 = client(t.app, own.secretKey)
    assert.equal((await api2.patch('/v1/instance', { rate_limits: { create_invitation_bulk: 0 } })).status, 200)
    const replies = await Promise.all(Array.from({ length: 24 }, () =>
      api2.post('/v1/invitations/bulk', Array.from({ length: 10 }, () => ({ email_address: uniqueEmail('concurrent'), notify: false })))))
    const byStatus: Record<number, number> = {}
    for (const r of replies) byStatus[r.status] = (byStatus[r.status] ?? 0) + 1
    assert.deepEqual(byStatus, { 200: 24 })
    assert.equal((await api2.get('/v1/invitations?paginated=true')).body.total_count, 240)
  })

  it('POST /v1/invitations/bulk and revoke, interleaved concurrently in one instance, never answer 500', async () => {
    const own = await t.newInstance()
    const api2 = client(t.app, own.secretKey)
    assert.equal((await api2.patch('/v1/instance', { rate_limits: { create_invitation_bulk: 0, create_invitation: 0 } })).status, 200)
    const existing = await Promise.all(Array.from({ length: 20 }, () => makeInvitation(api2)))
    const replies = await Promise.all([
      ...existing.map((inv) => api2.post(`/v1/invitations/${inv.id}/revoke`)),
      ...Array.from({ length: 10 }, () => api2.post('/v1/invitations/bulk', Array.from({ length: 5 }, () => ({ email_address: uniqueEmail('mix'), notify: false })))),
      ...Array.from({ length: 10 }, () => api2.post('/v1/invitations', { email_address: uniqueEmail('mix'), notify: false })),
    ])
    assert.deepEqual(replies.filter((r) => r.status !== 200).map((r) => `${r.status} ${r.body?.errors?.[0]?.code}`), [])
    assert.equal((await api2.get('/v1/invitations?status=revoked&paginated=true')).body.total_count, 20)
    assert.equal((await api2.get('/v1/invitations?status=pending&paginated=true')).body.total_count, 60)
  })

  it(`POST /v1/invitations/{id}/revoke and DELETE /v1/invitations/{id} answer hostile ids below 500 and in Clerk's shape`, async () => {
    await fuzz('revoke/delete', FUZZ_SEED + 4, (f) => f.idRequest())
  })
})
