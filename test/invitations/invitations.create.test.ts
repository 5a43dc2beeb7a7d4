import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { APP_ORIGIN, PUBLIC_URL, buildTestApp, client, uniqueEmail, type Client, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { makeInvitation, makeUser } from '../helpers/factories.js'

forEachDatabase('POST /v1/invitations', (engine) => {
  let t: TestApp
  let api: Client
  let instanceId: string
  before(async () => {
    t = await buildTestApp({ engine })
    const { instance, secretKey } = await t.newInstance()
    api = client(t.app, secretKey)
    instanceId = instance.id
  })
  after(() => t.close())

  it('creates a pending invitation in Clerk\'s shape and answers 200 with application/json', async () => {
    const email = uniqueEmail()
    const res = await api.post('/v1/invitations', { email_address: email, public_metadata: { plan: 'pro', nested: { a: [1, 2] } } })
    assert.equal(res.status, 200)
    assert.equal(res.headers['content-type'], 'application/json')
    const inv = res.body
    assert.match(inv.id, /^inv_[0-9A-Za-z]{27}$/)
    assert.deepEqual(Object.keys(inv).sort(), ['created_at', 'email_address', 'expires_at', 'id', 'object', 'public_metadata', 'revoked', 'status', 'updated_at', 'url'])
    assert.equal(inv.object, 'invitation')
    assert.equal(inv.email_address, email)
    assert.deepEqual(inv.public_metadata, { plan: 'pro', nested: { a: [1, 2] } })
    assert.equal(inv.status, 'pending')
    assert.equal(inv.revoked, false)
    assert.equal(inv.expires_at - inv.created_at, 30 * 24 * 3600 * 1000)
    assert.match(inv.url, new RegExp(`^${PUBLIC_URL}/v1/tickets/accept\\?ticket=[A-Za-z0-9_-]{43}$`))
  })

  it('treats the email address case-insensitively', async () => {
    const email = uniqueEmail()
    const first = await api.post('/v1/invitations', { email_address: email.toUpperCase() })
    assert.equal(first.status, 200)
    assert.equal(first.body.email_address, email)
    const second = await api.post('/v1/invitations', { email_address: email })
    assert.equal(second.status, 400)
    assert.equal(second.body.errors[0].code, 'duplicate_record')
    assert.equal(second.body.errors[0].meta.param_name, 'email_address')
  })

  it('refuses an address that belongs to a user, unless ignore_existing', async () => {
    const email = uniqueEmail()
    await makeUser(t.db, instanceId, email)
    const refused = await api.post('/v1/invitations', { email_address: email })
    assert.equal(refused.status, 400)
    assert.equal(refused.body.errors[0].code, 'form_identifier_exists')
    const allowed = await api.post('/v1/invitations', { email_address: email, ignore_existing: true })
    assert.equal(allowed.status, 200)
  })

  it('leaves exactly one invitation after fifty concurrent creates for one address', async () => {
    const email = uniqueEmail('race')
    const results = await Promise.all(Array.from({ length: 50 }, () => api.post('/v1/invitations', { email_address: email, notify: false })))
    assert.equal(results.filter((r) => r.status === 200).length, 1)
    assert.ok(results.every((r) => r.status === 200 || (r.status === 400 && r.body.errors[0].code === 'duplicate_record')))
    const list = await api.get(`/v1/invitations?query=${encodeURIComponent(email)}&paginated=true&status=pending`)
    assert.equal(list.body.total_count, 1)
  })

  it('accepts a redirect_url on an allowed origin and refuses a foreign one with 422', async () => {
    assert.equal((await api.post('/v1/invitations', { email_address: uniqueEmail(), redirect_url: `${APP_ORIGIN}/welcome` })).status, 200)
    assert.equal((await api.post('/v1/invitations', { email_address: uniqueEmail(), redirect_url: 'http://localhost:5173/x' })).status, 200)
    const foreign = await api.post('/v1/invitations', { email_address: uniqueEmail(), redirect_url: 'https://evil.example.net/welcome' })
    assert.equal(foreign.status, 422)
    assert.equal(foreign.body.errors[0].meta.param_name, 'redirect_url')
  })

  it('creates again with ignore_existing even when one is pending', async () => {
    const inv = await makeInvitation(api)
    const again = await api.post('/v1/invitations', { email_address: inv.email_address, ignore_existing: true })
    assert.equal(again.status, 200)
    assert.notEqual(again.body.id, inv.id)
    assert.notEqual(again.body.url, inv.url)
  })
})
