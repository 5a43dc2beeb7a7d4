import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { LightMyRequestResponse } from 'fastify'
import { buildTestApp, client, uniqueEmail, type Client, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { makeInvitation } from '../helpers/factories.js'
import { randomToken } from '../../src/platform/ids.js'

/** Clerk's error shape, exactly: `{errors:[{message,long_message,code,meta?}],clerk_trace_id}` as application/json. */
function assertClerkError(res: LightMyRequestResponse, status: number, code: string) {
  assert.equal(res.statusCode, status, res.payload)
  assert.equal(res.headers['content-type'], 'application/json')
  const body = JSON.parse(res.payload)
  assert.deepEqual(Object.keys(body).sort(), ['clerk_trace_id', 'errors'])
  assert.equal(typeof body.clerk_trace_id, 'string')
  assert.ok(body.clerk_trace_id.length > 0)
  assert.ok(Array.isArray(body.errors) && body.errors.length > 0)
  for (const error of body.errors) {
    assert.ok(Object.keys(error).every((k) => ['message', 'long_message', 'code', 'meta'].includes(k)), JSON.stringify(error))
    assert.equal(typeof error.message, 'string')
    assert.equal(typeof error.long_message, 'string')
    assert.equal(typeof error.code, 'string')
    if ('meta' in error) assert.ok(error.meta !== null && typeof error.meta === 'object' && !Array.isArray(error.meta))
  }
  assert.equal(body.errors[0].code, code)
  return body
}

const ROUTES: { method: 'GET' | 'POST' | 'PATCH' | 'DELETE'; url: string; payload?: unknown }[] = [
  { method: 'GET', url: '/v1/invitations' },
  { method: 'POST', url: '/v1/invitations', payload: { email_address: 'someone@example.com' } },
  { method: 'POST', url: '/v1/invitations/bulk', payload: [{ email_address: 'someone@example.com' }] },
  { method: 'POST', url: '/v1/invitations/inv_123/revoke' },
  { method: 'DELETE', url: '/v1/invitations/inv_123' },
  { method: 'GET', url: '/v1/instance' },
  { method: 'PATCH', url: '/v1/instance', payload: { application_name: 'Hijacked' } },
  { method: 'GET', url: '/v1/testing/clock' },
]

forEachDatabase('Backend API authentication', (engine) => {
  let t: TestApp
  before(async () => {
    t = await buildTestApp({ engine })
  })
  after(() => t.close())

  const inject = (route: (typeof ROUTES)[number], authorization?: string) => t.app.inject({
    method: route.method,
    url: route.url,
    headers: authorization === undefined ? {} : { authorization },
    ...(route.payload === undefined ? {} : { payload: route.payload as object }),
  })

  for (const route of ROUTES) {
    it(`${route.method} ${route.url} without Authorization answers 401 authorization_header_format_invalid`, async () => {
      assertClerkError(await inject(route), 401, 'authorization_header_format_invalid')
    })
  }

  it('answers 401 authorization_header_format_invalid for malformed Authorization headers', async () => {
    const { secretKey } = await t.newInstance()
    const malformed = [
      '',
      'Bearer',
      'Bearer ',
      secretKey,
      `Basic ${Buffer.from(`${secretKey}:`).toString('base64')}`,
      `Token ${secretKey}`,
      `Bearer ${secretKey} extra`,
      `Bearer${secretKey}`,
    ]
    for (const authorization of malformed) {
      const res = await inject(ROUTES[0]!, authorization)
      assertClerkError(res, 401, 'authorization_header_format_invalid')
      assert.ok(!res.payload.includes(secretKey), `the key was echoed for ${JSON.stringify(authorization)}`)
    }
  })

  it('answers 401 clerk_key_invalid for an unknown or wrong key, on every route', async () => {
    const { secretKey } = await t.newInstance()
    const wrong = [
      `sk_test_${randomToken(40)}`,
      `sk_live_${randomToken(40)}`,
      secretKey.slice(0, -1) + (secretKey.endsWith('a') ? 'b' : 'a'),
      secretKey.replace('sk_test_', 'sk_live_'),
      secretKey.replace('sk_test_', 'pk_test_'),
      'not-a-key',
    ]
    for (const key of wrong) {
      for (const route of ROUTES) {
        const res = await inject(route, `Bearer ${key}`)
        assertClerkError(res, 401, 'clerk_key_invalid')
        assert.ok(!res.payload.includes(key), `the wrong key was echoed by ${route.method} ${route.url}`)
      }
    }
  })

  it('accepts the right key on the same routes (so the 401s above are about the key)', async () => {
    const { secretKey } = await t.newInstance()
    const res = await inject(ROUTES[0]!, `Bearer ${secretKey}`)
    assert.equal(res.statusCode, 200)
  })

  it('never puts the secret key in a response body or header', async () => {
    const { secretKey } = await t.newInstance()
    const api = client(t.app, secretKey)
    const secretPart = secretKey.slice('sk_test_'.length)
    const inv = await makeInvitation(api)
    const responses: LightMyRequestResponse[] = []
    const auth = { authorization: `Bearer ${secretKey}` }
    const json = { ...auth, 'content-type': 'application/json' }
    responses.push(await t.app.inject({ method: 'GET', url: '/v1/instance', headers: auth }))
    responses.push(await t.app.inject({ method: 'PATCH', url: '/v1/instance', headers: json, payload: JSON.stringify({ application_name: 'Renamed' }) }))
    responses.push(await t.app.inject({ method: 'GET', url: '/v1/invitations?paginated=true', headers: auth }))
    responses.push(await t.app.inject({ method: 'POST', url: '/v1/invitations', headers: json, payload: JSON.stringify({ email_address: uniqueEmail(), notify: false }) }))
    responses.push(await t.app.inject({ method: 'POST', url: '/v1/invitations', headers: json, payload: JSON.stringify({ email_address: secretKey }) }))
    responses.push(await t.app.inject({ method: 'POST', url: `/v1/invitations/${inv.id}/revoke`, headers: auth }))
    responses.push(await t.app.inject({ method: 'POST', url: `/v1/invitations/${inv.id}/revoke`, headers: auth }))
    responses.push(await t.app.inject({ method: 'GET', url: '/v1/nothing-here', headers: auth }))
    responses.push(await t.app.inject({ method: 'GET', url: '/v1/testing/clock', headers: auth }))
    responses.push(await t.app.inject({ method: 'GET', url: '/v1/openapi.json', headers: auth }))
    for (const res of responses) {
      const everything = res.payload + JSON.stringify(res.headers)
      assert.ok(!everything.includes(secretPart), `${res.statusCode} ${res.payload.slice(0, 200)} carries the secret key`)
    }
  })
})

forEachDatabase('Instance isolation', (engine) => {
  let t: TestApp
  let a: Client
  let b: Client
  before(async () => {
    t = await buildTestApp({ engine })
  })
  after(() => t.close())

  const twoInstances = async () => {
    a = client(t.app, (await t.newInstance('A')).secretKey)
    b = client(t.app, (await t.newInstance('B')).secretKey)
  }

  it('GET /v1/invitations of instance B does not show instance A\'s invitations', async () => {
    await twoInstances()
    const inv = await makeInvitation(a)
    const plain = await b.get('/v1/invitations')
    assert.equal(plain.status, 200)
    assert.deepEqual(plain.body, [])
    for (const status of ['pending', 'accepted', 'revoked', 'expired']) {
      const filtered = await b.get(`/v1/invitations?status=${status}&paginated=true`)
      assert.deepEqual(filtered.body, { data: [], total_count: 0 })
    }
    const byId = await b.get(`/v1/invitations?query=${inv.id}&paginated=true`)
    assert.deepEqual(byId.body, { data: [], total_count: 0 })
    const byEmail = await b.get(`/v1/invitations?query=${encodeURIComponent(inv.email_address)}&paginated=true`)
    assert.deepEqual(byEmail.body, { data: [], total_count: 0 })
    const own = await a.get(`/v1/invitations?query=${inv.id}`)
    assert.deepEqual(own.body.map((i: { id: string }) => i.id), [inv.id])
  })

  it('POST /v1/invitations/{id}/revoke of another instance\'s invitation answers 404 and changes nothing', async () => {
    await twoInstances()
    const inv = await makeInvitation(a)
    const res = await b.post(`/v1/invitations/${inv.id}/revoke`)
    assert.equal(res.status, 404)
    assert.equal(res.body.errors[0].code, 'resource_not_found')
    const still = await a.get(`/v1/invitations?query=${inv.id}&status=pending&paginated=true`)
    assert.equal(still.body.total_count, 1)
    assert.equal(still.body.data[0].status, 'pending')
  })

  it('DELETE /v1/invitations/{id} of another instance\'s invitation answers 404 and deletes nothing', async () => {
    await twoInstances()
    const inv = await makeInvitation(a)
    const res = await b.delete(`/v1/invitations/${inv.id}`)
    assert.equal(res.status, 404)
    assert.equal(res.body.errors[0].code, 'resource_not_found')
    const still = await a.get(`/v1/invitations?query=${inv.id}`)
    assert.equal(still.body.length, 1)
  })

  it('lets two instances invite the same address independently', async () => {
    await twoInstances()
    const email = uniqueEmail('shared')
    assert.equal((await a.post('/v1/invitations', { email_address: email, notify: false })).status, 200)
    assert.equal((await b.post('/v1/invitations', { email_address: email, notify: false })).status, 200)
  })

  it('GET /v1/invitations?paginated=true counts per instance', async () => {
    await twoInstances()
    for (let i = 0; i < 3; i++) await makeInvitation(a)
    const revoked = await makeInvitation(b)
    await makeInvitation(b)
    assert.equal((await b.post(`/v1/invitations/${revoked.id}/revoke`)).status, 200)
    const listA = await a.get('/v1/invitations?paginated=true')
    const listB = await b.get('/v1/invitations?paginated=true')
    assert.equal(listA.body.total_count, 3)
    assert.equal(listA.body.data.length, 3)
    assert.equal(listB.body.total_count, 1)
    assert.equal((await a.get('/v1/invitations?status=revoked&paginated=true')).body.total_count, 0)
    assert.equal((await b.get('/v1/invitations?status=revoked&paginated=true')).body.total_count, 1)
    assert.equal((await a.get('/v1/invitations?status=pending&paginated=true')).body.total_count, 3)
    assert.equal((await b.get('/v1/invitations?status=pending&paginated=true')).body.total_count, 1)
  })

  it('GET /v1/instance answers each key\'s own instance, and PATCH changes only that one', async () => {
    const one = await t.newInstance('One')
    const two = await t.newInstance('Two')
    const api1 = client(t.app, one.secretKey)
    const api2 = client(t.app, two.secretKey)
    assert.equal((await api1.get('/v1/instance')).body.id, one.instance.id)
    assert.equal((await api2.get('/v1/instance')).body.id, two.instance.id)
    assert.equal((await api1.patch('/v1/instance', { application_name: 'Changed', sign_up_mode: 'restricted' })).status, 200)
    const other = await api2.get('/v1/instance')
    assert.equal(other.body.application_name, 'Two')
    assert.equal(other.body.sign_up_mode, 'public')
  })
})
