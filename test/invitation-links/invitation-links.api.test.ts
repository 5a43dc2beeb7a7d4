import { after, before, it } from 'node:test'
import assert from 'node:assert/strict'
import { PUBLIC_URL, buildTestApp, client, type Client, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'

forEachDatabase('invitation links: the Backend API', (engine) => {
  let t: TestApp
  let api: Client
  let other: Client
  let instanceId: string
  let orgId: string
  before(async () => {
    t = await buildTestApp({ engine })
    const { instance, secretKey } = await t.newInstance()
    api = client(t.app, secretKey)
    instanceId = instance.id
    other = client(t.app, (await t.newInstance('Other')).secretKey)
    orgId = (await api.post('/v1/organizations', { name: 'Launch Team' })).body.id
  })
  after(() => t.close())

  const outboxTopics = async (subjectId: string) =>
    (await t.db.query<{ topic: string }>(`select topic from outbox where subject_id = $1 and kind = 'webhook' order by created_at, topic`, [subjectId])).map((r) => r.topic)

  it('creates an application link in its shape, unlimited and never expiring by default, with its created event', async () => {
    const res = await api.post('/v1/invitation_links', { public_metadata: { plan: 'pro' } })
    assert.equal(res.status, 200)
    const link = res.body
    assert.match(link.id, /^invlink_[0-9A-Za-z]{27}$/)
    assert.deepEqual(Object.keys(link).sort(), ['allowed_domains', 'created_at', 'expires_at', 'id', 'max_uses', 'object', 'organization_id', 'public_metadata', 'role', 'status', 'updated_at', 'url', 'use_count'])
    assert.equal(link.object, 'invitation_link')
    assert.equal(link.status, 'active')
    assert.equal(link.organization_id, null)
    assert.equal(link.role, null)
    assert.equal(link.max_uses, null)
    assert.equal(link.expires_at, null)
    assert.equal(link.use_count, 0)
    assert.deepEqual(link.allowed_domains, [])
    assert.deepEqual(link.public_metadata, { plan: 'pro' })
    assert.match(link.url, new RegExp(`^${PUBLIC_URL}/join\\?token=[A-Za-z0-9_-]{43}$`))
    // The token is stored hashed only.
    const token = new URL(link.url).searchParams.get('token')!
    const stored = await t.db.query<Record<string, unknown>>('select * from invitation_links where id = $1', [link.id])
    assert.ok(!JSON.stringify(stored).includes(token))
    assert.deepEqual(await outboxTopics(link.id), ['invitationLink.created'])
    const [event] = await t.db.query<{ payload: any }>(`select payload from outbox where subject_id = $1`, [link.id])
    assert.equal(event!.payload.data.id, link.id)
    assert.equal(event!.payload.data.url, undefined, 'the event carries no token')
    assert.equal(event!.payload.instance_id, instanceId)
  })

  it('creates an organization link with a role, a limit, an expiry and domains', async () => {
    const expiresAt = t.clock.now() + 7 * 86_400_000
    const res = await api.post('/v1/invitation_links', {
      organization_id: orgId, role: 'org:member', max_uses: 5, expires_at: expiresAt, allowed_domains: ['Acme.com', '@acme.org', 'acme.com'],
    })
    assert.equal(res.status, 200)
    assert.equal(res.body.organization_id, orgId)
    assert.equal(res.body.role, 'org:member')
    assert.equal(res.body.max_uses, 5)
    assert.equal(res.body.expires_at, expiresAt)
    assert.deepEqual(res.body.allowed_domains, ['acme.com', 'acme.org'])
  })

  it('refuses bad input with Clerk-shaped errors naming the parameter', async () => {
    const cases: [Record<string, unknown>, number, string, string][] = [
      [{ organization_id: orgId }, 422, 'form_param_missing', 'role'],
      [{ role: 'org:member' }, 422, 'form_param_value_invalid', 'role'],
      [{ organization_id: 'org_nope', role: 'org:member' }, 404, 'resource_not_found', 'organization_id'],
      [{ organization_id: orgId, role: 'org:nope' }, 404, 'resource_not_found', 'role'],
      [{ expires_at: t.clock.now() - 1000 }, 422, 'form_param_value_invalid', 'expires_at'],
      [{ allowed_domains: ['acme.com', 'not a domain'] }, 422, 'form_param_format_invalid', 'allowed_domains[1]'],
      [{ public_metadata: { big: 'x'.repeat(9000) } }, 422, 'form_param_max_length_exceeded', 'public_metadata'],
    ]
    for (const [body, status, code, param] of cases) {
      const res = await api.post('/v1/invitation_links', body)
      assert.equal(res.status, status, JSON.stringify(body))
      assert.equal(res.body.errors[0].code, code, JSON.stringify(body))
      assert.equal(res.body.errors[0].meta.param_name, param, JSON.stringify(body))
    }
    for (const body of [{ max_uses: 0 }, { max_uses: 'five' }, { colour: 'red' }, { allowed_domains: 'acme.com' }]) {
      const res = await api.post('/v1/invitation_links', body)
      assert.equal(res.status, 422, JSON.stringify(body))
      assert.ok(res.body.errors[0].meta.param_name, `names the parameter: ${JSON.stringify(res.body)}`)
    }
  })

  it('lists newest first, plain or paginated, filtered by organization; gets one; lists its uses', async () => {
    t.clock.advance(1000)
    const a = (await api.post('/v1/invitation_links', {})).body
    t.clock.advance(1000)
    const b = (await api.post('/v1/invitation_links', { organization_id: orgId, role: 'org:admin' })).body
    const plain = await api.get('/v1/invitation_links?limit=2')
    assert.equal(plain.status, 200)
    assert.deepEqual(plain.body.map((l: { id: string }) => l.id), [b.id, a.id])
    const paged = await api.get('/v1/invitation_links?paginated=true&limit=1&offset=1')
    assert.equal(paged.body.data[0].id, a.id)
    assert.ok(paged.body.total_count >= 4)
    const inOrg = await api.get(`/v1/invitation_links?paginated=true&organization_id=${orgId}`)
    assert.ok(inOrg.body.data.every((l: { organization_id: string }) => l.organization_id === orgId))
    const got = await api.get(`/v1/invitation_links/${a.id}`)
    assert.equal(got.status, 200)
    assert.deepEqual(got.body, a)
    const uses = await api.get(`/v1/invitation_links/${a.id}/uses?paginated=true`)
    assert.deepEqual(uses.body, { data: [], total_count: 0 })
    assert.deepEqual((await api.get(`/v1/invitation_links/${a.id}/uses`)).body, [])
  })

  it('revokes once, with its event; a second revoke is 400', async () => {
    const link = (await api.post('/v1/invitation_links', {})).body
    const res = await api.post(`/v1/invitation_links/${link.id}/revoke`)
    assert.equal(res.status, 200)
    assert.equal(res.body.status, 'revoked')
    const again = await api.post(`/v1/invitation_links/${link.id}/revoke`)
    assert.equal(again.status, 400)
    assert.equal(again.body.errors[0].code, 'invitation_link_not_active')
    assert.deepEqual(await outboxTopics(link.id), ['invitationLink.created', 'invitationLink.revoked'])
  })

  it('reads an expired link as expired', async () => {
    const link = (await api.post('/v1/invitation_links', { expires_at: t.clock.now() + 60_000 })).body
    t.clock.advance(61_000)
    assert.equal((await api.get(`/v1/invitation_links/${link.id}`)).body.status, 'expired')
  })

  it('keeps instances apart: another instance\'s key gets 404 and an empty list', async () => {
    const link = (await api.post('/v1/invitation_links', {})).body
    for (const res of [
      await other.get(`/v1/invitation_links/${link.id}`),
      await other.get(`/v1/invitation_links/${link.id}/uses`),
      await other.post(`/v1/invitation_links/${link.id}/revoke`),
    ]) {
      assert.equal(res.status, 404)
      assert.equal(res.body.errors[0].code, 'resource_not_found')
    }
    assert.deepEqual((await other.get('/v1/invitation_links')).body, [])
    // Nor can it make a link into this instance's organization.
    assert.equal((await other.post('/v1/invitation_links', { organization_id: orgId, role: 'org:member' })).status, 404)
    assert.equal((await api.get(`/v1/invitation_links/${link.id}`)).body.status, 'active')
  })

  it('is described in the served OpenAPI document', async () => {
    const doc = JSON.parse((await t.app.inject({ method: 'GET', url: '/v1/openapi.json' })).payload)
    assert.ok(doc.paths['/v1/invitation_links']?.post && doc.paths['/v1/invitation_links']?.get)
    assert.ok(doc.paths['/v1/invitation_links/{invitation_link_id}']?.get)
    assert.ok(doc.paths['/v1/invitation_links/{invitation_link_id}/uses']?.get)
    assert.ok(doc.paths['/v1/invitation_links/{invitation_link_id}/revoke']?.post)
  })
})
