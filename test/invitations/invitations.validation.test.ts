import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { buildTestApp, client, uniqueEmail, type Client, type TestApp } from '../helpers/build-app.js'

describe('POST /v1/invitations with bad input', () => {
  let t: TestApp
  let api: Client
  before(async () => {
    t = await buildTestApp()
    api = client(t.app, (await t.newInstance()).secretKey)
  })
  after(() => t.close())

  const expect422 = async (body: unknown, param: string, code?: string) => {
    const res = await api.post('/v1/invitations', body)
    assert.equal(res.status, 422, `${JSON.stringify(body)} → ${JSON.stringify(res.body)}`)
    assert.equal(res.headers['content-type'], 'application/json')
    assert.equal(res.body.errors[0].meta.param_name, param)
    assert.equal(typeof res.body.errors[0].long_message, 'string')
    assert.match(res.body.clerk_trace_id, /^[0-9a-f]{32}$/)
    if (code) assert.equal(res.body.errors[0].code, code)
    return res
  }

  it('refuses a missing email_address naming it', async () => {
    await expect422({}, 'email_address', 'form_param_missing')
    await expect422({ notify: false }, 'email_address', 'form_param_missing')
  })

  it('refuses malformed email addresses', async () => {
    for (const bad of ['', 'plain', '@example.com', 'a@', 'a@b', 'a b@example.com', 'a@exa mple.com', 'a@@example.com', '"q"@example.com',
      'a\r\nBcc: x@evil.test@example.com', 'a..b@example.com', '.a@example.com', `${'x'.repeat(65)}@example.com`, `a@${'d'.repeat(250)}.com`]) {
      await expect422({ email_address: bad }, 'email_address', 'form_param_format_invalid')
    }
  })

  it('refuses wrong types naming the parameter', async () => {
    await expect422({ email_address: 42 }, 'email_address', 'form_param_type_invalid')
    await expect422({ email_address: uniqueEmail(), notify: 'yes' }, 'notify')
    await expect422({ email_address: uniqueEmail(), ignore_existing: 1 }, 'ignore_existing')
    await expect422({ email_address: uniqueEmail(), public_metadata: 'text' }, 'public_metadata')
    await expect422({ email_address: uniqueEmail(), public_metadata: [1, 2] }, 'public_metadata')
    await expect422({ email_address: uniqueEmail(), expires_in_days: '7' }, 'expires_in_days')
    await expect422({ email_address: uniqueEmail(), redirect_url: 5 }, 'redirect_url')
  })

  it('refuses out-of-range numbers and unknown template slugs', async () => {
    await expect422({ email_address: uniqueEmail(), expires_in_days: 0 }, 'expires_in_days')
    await expect422({ email_address: uniqueEmail(), expires_in_days: 366 }, 'expires_in_days')
    await expect422({ email_address: uniqueEmail(), expires_in_days: 1.5 }, 'expires_in_days')
    await expect422({ email_address: uniqueEmail(), template_slug: 'organization_invitation' }, 'template_slug')
  })

  it('refuses public_metadata over 8 KB serialized and accepts it at the limit', async () => {
    await expect422({ email_address: uniqueEmail(), public_metadata: { blob: 'x'.repeat(8 * 1024) } }, 'public_metadata', 'form_param_max_length_exceeded')
    const atLimit = { blob: 'x'.repeat(8 * 1024 - '{"blob":""}'.length) }
    assert.equal((await api.post('/v1/invitations', { email_address: uniqueEmail(), public_metadata: atLimit, notify: false })).status, 200)
  })

  it('refuses unknown body parameters naming them', async () => {
    await expect422({ email_address: uniqueEmail(), role: 'admin' }, 'role', 'form_param_unknown')
  })

  it('refuses redirect URLs that are relative, non-http, carry credentials, or sit on a foreign origin', async () => {
    for (const bad of ['/welcome', 'javascript:alert(1)', 'ftp://app.example.com/x', 'https://user:pw@app.example.com/', 'https://app.example.com.evil.test/',
      'https://evil.test/?https://app.example.com', 'http://app.example.com/', 'https://app.example.com:8443/']) {
      await expect422({ email_address: uniqueEmail(), redirect_url: bad }, 'redirect_url')
    }
  })

  it('answers malformed JSON with 400 request_body_invalid', async () => {
    const res = await api.post('/v1/invitations', '{"email_address": "a@example.com"', { 'content-type': 'application/json' })
    assert.equal(res.status, 400)
    assert.equal(res.body.errors[0].code, 'request_body_invalid')
  })

  it('treats explicit nulls as the defaults, as Clerk\'s nullable parameters do', async () => {
    const res = await api.post('/v1/invitations', { email_address: uniqueEmail(), notify: null, ignore_existing: null, expires_in_days: null, public_metadata: null, redirect_url: null, template_slug: null })
    assert.equal(res.status, 200)
    assert.deepEqual(res.body.public_metadata, {})
    assert.equal(res.body.expires_at - res.body.created_at, 30 * 24 * 3600 * 1000)
  })

  it('keeps hostile metadata byte for byte (escaping is the renderer\'s job)', async () => {
    const metadata = { html: '<script>alert("x")</script>', quote: '\'";--', unicode: 'ünï©ødé 🎉', nested: { deep: [null, true, 1.5] } }
    const res = await api.post('/v1/invitations', { email_address: uniqueEmail(), public_metadata: metadata, notify: false })
    assert.equal(res.status, 200)
    assert.deepEqual(res.body.public_metadata, metadata)
  })
})
