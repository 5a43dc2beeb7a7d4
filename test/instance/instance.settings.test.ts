import { after, before, it } from 'node:test'
import assert from 'node:assert/strict'
import { APP_ORIGIN, buildTestApp, client, type Reply, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { randomToken } from '../../src/platform/ids.js'

const DEFAULT_LIMITS = {
  create_invitation: 100,
  create_invitation_bulk: 25,
  create_organization_invitation: 250,
  create_organization_invitation_bulk: 50,
}

function assertInvalid(res: Reply, param: string) {
  assert.equal(res.status, 422, JSON.stringify(res.body))
  assert.equal(res.headers['content-type'], 'application/json')
  assert.deepEqual(Object.keys(res.body).sort(), ['clerk_trace_id', 'errors'])
  assert.match(res.body.errors[0].code, /^form_param_/)
  assert.equal(res.body.errors[0].meta?.param_name, param, JSON.stringify(res.body))
}

forEachDatabase('GET/PATCH /v1/instance', (engine) => {
  let t: TestApp
  before(async () => {
    t = await buildTestApp({ engine })
  })
  after(() => t.close())

  const newApi = async (name = 'Settings app') => {
    const { instance, secretKey } = await t.newInstance(name)
    return { api: client(t.app, secretKey), instance }
  }

  it('GET /v1/instance answers Foyer\'s instance shape with Clerk\'s default rate limits', async () => {
    const { api, instance } = await newApi('Acme')
    const res = await api.get('/v1/instance')
    assert.equal(res.status, 200)
    assert.equal(res.headers['content-type'], 'application/json')
    assert.deepEqual(Object.keys(res.body).sort(), [
      'after_sign_up_url', 'allowed_redirect_origins', 'application_name', 'created_at', 'environment_type', 'home_url', 'id', 'jwt_public_key', 'object',
      'publishable_key', 'rate_limits', 'remind_before_expiry_days', 'server_redirect_origins', 'sign_up_mode', 'updated_at', 'user_lockout', 'username',
    ])
    assert.equal(res.body.object, 'instance')
    assert.equal(res.body.id, instance.id)
    assert.match(res.body.id, /^ins_[0-9A-Za-z]{27}$/)
    assert.equal(res.body.environment_type, 'development')
    assert.equal(res.body.application_name, 'Acme')
    assert.match(res.body.publishable_key, /^pk_test_[A-Za-z0-9+/=]+$/)
    assert.equal(res.body.sign_up_mode, 'public')
    assert.equal(res.body.home_url, null)
    assert.equal(res.body.after_sign_up_url, null)
    assert.deepEqual(res.body.rate_limits, DEFAULT_LIMITS)
    assert.deepEqual(res.body.user_lockout, { enabled: true, max_attempts: 100, duration_in_minutes: 60 })
    assert.deepEqual(res.body.username, { enabled: false, required: false })
    assert.deepEqual(res.body.allowed_redirect_origins, [])
    assert.equal(res.body.remind_before_expiry_days, 0)
    assert.deepEqual(res.body.server_redirect_origins, [APP_ORIGIN, 'http://localhost:*'])
    assert.match(res.body.jwt_public_key, /^-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA[^]+IDAQAB\n-----END PUBLIC KEY-----\n$/)
    assert.ok(Number.isInteger(res.body.created_at))
    assert.ok(Number.isInteger(res.body.updated_at))
    assert.ok(res.body.updated_at >= res.body.created_at)
  })

  it('GET /v1/instance with an sk_live_ key answers environment_type production and a pk_live_ key', async () => {
    const secretKey = 'sk_live_' + randomToken(40)
    await t.services.instances.create({ name: 'Live', secretKey })
    const res = await client(t.app, secretKey).get('/v1/instance')
    assert.equal(res.status, 200)
    assert.equal(res.body.environment_type, 'production')
    assert.match(res.body.publishable_key, /^pk_live_/)
  })

  it('PATCH /v1/instance changes application_name', async () => {
    const { api } = await newApi()
    const res = await api.patch('/v1/instance', { application_name: 'Renamed app' })
    assert.equal(res.status, 200)
    assert.equal(res.body.application_name, 'Renamed app')
    assert.equal((await api.get('/v1/instance')).body.application_name, 'Renamed app')
  })

  it('PATCH /v1/instance changes sign_up_mode to each of public, restricted and waitlist', async () => {
    const { api } = await newApi()
    for (const mode of ['restricted', 'waitlist', 'public']) {
      const res = await api.patch('/v1/instance', { sign_up_mode: mode })
      assert.equal(res.status, 200)
      assert.equal(res.body.sign_up_mode, mode)
      assert.equal((await api.get('/v1/instance')).body.sign_up_mode, mode)
    }
  })

  it('PATCH /v1/instance turns usernames on, requires them (which enables them) and turns them off (which stops requiring them)', async () => {
    const { api } = await newApi()
    const steps: [Record<string, boolean>, { enabled: boolean; required: boolean }][] = [
      [{ enabled: true }, { enabled: true, required: false }],
      [{ required: true }, { enabled: true, required: true }],
      [{ required: false }, { enabled: true, required: false }],
      [{ enabled: false }, { enabled: false, required: false }],
      [{ required: true }, { enabled: true, required: true }],
      [{ enabled: false }, { enabled: false, required: false }],
    ]
    for (const [change, expected] of steps) {
      const res = await api.patch('/v1/instance', { username: change })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.deepEqual(res.body.username, expected, JSON.stringify(change))
      assert.deepEqual((await api.get('/v1/instance')).body.username, expected)
    }
    const both = await api.patch('/v1/instance', { username: { enabled: false, required: true } })
    assert.equal(both.status, 422)
    assert.equal(both.body.errors[0].meta.param_name, 'username')
    const unknown = await api.patch('/v1/instance', { username: { min_length: 3 } })
    assert.equal(unknown.status, 422)
    assert.equal(unknown.body.errors[0].code, 'form_param_unknown')
  })

  it('PATCH /v1/instance sets and clears home_url and after_sign_up_url on allowed origins', async () => {
    const { api } = await newApi()
    const set = await api.patch('/v1/instance', { home_url: `${APP_ORIGIN}/home`, after_sign_up_url: 'http://localhost:5173/welcome' })
    assert.equal(set.status, 200)
    assert.equal(set.body.home_url, `${APP_ORIGIN}/home`)
    assert.equal(set.body.after_sign_up_url, 'http://localhost:5173/welcome')
    const read = await api.get('/v1/instance')
    assert.equal(read.body.home_url, `${APP_ORIGIN}/home`)
    assert.equal(read.body.after_sign_up_url, 'http://localhost:5173/welcome')
    // Leaving a field out keeps it; null clears it.
    const partial = await api.patch('/v1/instance', { home_url: null })
    assert.equal(partial.status, 200)
    assert.equal(partial.body.home_url, null)
    assert.equal(partial.body.after_sign_up_url, 'http://localhost:5173/welcome')
  })

  it('PATCH /v1/instance merges rate_limits, keeping the limits it does not name', async () => {
    const { api } = await newApi()
    const first = await api.patch('/v1/instance', { rate_limits: { create_invitation: 5 } })
    assert.equal(first.status, 200)
    assert.deepEqual(first.body.rate_limits, { ...DEFAULT_LIMITS, create_invitation: 5 })
    const second = await api.patch('/v1/instance', { rate_limits: { create_organization_invitation_bulk: 0, create_invitation_bulk: 7 } })
    assert.deepEqual(second.body.rate_limits, { ...DEFAULT_LIMITS, create_invitation: 5, create_invitation_bulk: 7, create_organization_invitation_bulk: 0 })
    assert.deepEqual((await api.get('/v1/instance')).body.rate_limits, second.body.rate_limits)
  })

  it('PATCH /v1/instance with several fields at once changes them all and moves updated_at', async () => {
    const { api } = await newApi()
    const before = (await api.get('/v1/instance')).body
    t.clock.advance(1000)
    const res = await api.patch('/v1/instance', {
      application_name: 'All at once', sign_up_mode: 'restricted', home_url: `${APP_ORIGIN}/`, after_sign_up_url: `${APP_ORIGIN}/done`,
      rate_limits: { create_invitation: 9 },
    })
    assert.equal(res.status, 200)
    assert.equal(res.body.application_name, 'All at once')
    assert.equal(res.body.sign_up_mode, 'restricted')
    assert.equal(res.body.home_url, `${APP_ORIGIN}/`)
    assert.equal(res.body.after_sign_up_url, `${APP_ORIGIN}/done`)
    assert.equal(res.body.rate_limits.create_invitation, 9)
    assert.equal(res.body.id, before.id)
    assert.equal(res.body.created_at, before.created_at)
    assert.ok(res.body.updated_at > before.updated_at)
  })

  it('PATCH /v1/instance with an empty body changes nothing', async () => {
    const { api } = await newApi()
    const before = (await api.get('/v1/instance')).body
    const res = await api.patch('/v1/instance', {})
    assert.equal(res.status, 200)
    const { updated_at: _a, ...rest } = res.body
    const { updated_at: _b, ...restBefore } = before
    assert.deepEqual(rest, restBefore)
  })

  it('PATCH /v1/instance refuses a sign_up_mode outside public, restricted, waitlist with 422', async () => {
    const { api } = await newApi()
    for (const mode of ['open', 'Public', '', null, 1]) assertInvalid(await api.patch('/v1/instance', { sign_up_mode: mode }), 'sign_up_mode')
    assert.equal((await api.get('/v1/instance')).body.sign_up_mode, 'public')
  })

  it('PATCH /v1/instance refuses negative, fractional or non-numeric rate limits with 422 naming the limit', async () => {
    const { api } = await newApi()
    assertInvalid(await api.patch('/v1/instance', { rate_limits: { create_invitation: -1 } }), 'rate_limits.create_invitation')
    assertInvalid(await api.patch('/v1/instance', { rate_limits: { create_invitation_bulk: 1.5 } }), 'rate_limits.create_invitation_bulk')
    assertInvalid(await api.patch('/v1/instance', { rate_limits: { create_organization_invitation: '10' } }), 'rate_limits.create_organization_invitation')
    assertInvalid(await api.patch('/v1/instance', { rate_limits: { create_organization_invitation_bulk: null } }), 'rate_limits.create_organization_invitation_bulk')
    assertInvalid(await api.patch('/v1/instance', { rate_limits: 5 }), 'rate_limits')
    assert.deepEqual((await api.get('/v1/instance')).body.rate_limits, DEFAULT_LIMITS)
  })

  it('PATCH /v1/instance refuses home_url and after_sign_up_url on a foreign origin or not http(s) with 422', async () => {
    const { api } = await newApi()
    for (const url of ['https://evil.example.net/', 'https://app.example.com.evil.net/', 'javascript:alert(1)', 'not a url', '/relative', '']) {
      assertInvalid(await api.patch('/v1/instance', { home_url: url }), 'home_url')
      assertInvalid(await api.patch('/v1/instance', { after_sign_up_url: url }), 'after_sign_up_url')
    }
    const read = (await api.get('/v1/instance')).body
    assert.equal(read.home_url, null)
    assert.equal(read.after_sign_up_url, null)
  })

  it('PATCH /v1/instance refuses an unknown field with 422 form_param_unknown naming it', async () => {
    const { api } = await newApi()
    const res = await api.patch('/v1/instance', { colour: 'blue' })
    assertInvalid(res, 'colour')
    assert.equal(res.body.errors[0].code, 'form_param_unknown')
    assertInvalid(await api.patch('/v1/instance', { id: 'ins_other' }), 'id')
    assertInvalid(await api.patch('/v1/instance', { environment_type: 'production' }), 'environment_type')
  })

  it('PATCH /v1/instance refuses an unknown rate limit name with 422 naming it', async () => {
    const { api, instance } = await newApi()
    const res = await api.patch('/v1/instance', { rate_limits: { create_user: 5 } })
    assertInvalid(res, 'rate_limits.create_user')
    assert.equal(res.body.errors[0].code, 'form_param_unknown')
    // Nothing of it is stored either.
    const [row] = await t.db.query<{ rate_limits: Record<string, unknown> }>('select rate_limits from instances where id = $1', [instance.id])
    assert.deepEqual(row?.rate_limits, {})
  })

  it('PATCH /v1/instance refuses an application_name that is empty or longer than 256 characters', async () => {
    const { api } = await newApi()
    assertInvalid(await api.patch('/v1/instance', { application_name: '' }), 'application_name')
    assertInvalid(await api.patch('/v1/instance', { application_name: 'x'.repeat(257) }), 'application_name')
    assertInvalid(await api.patch('/v1/instance', { application_name: null }), 'application_name')
    assert.equal((await api.patch('/v1/instance', { application_name: 'x'.repeat(256) })).status, 200)
  })

  it('PATCH /v1/instance changes only the calling instance', async () => {
    const one = await newApi('One')
    const two = await newApi('Two')
    assert.equal((await one.api.patch('/v1/instance', { sign_up_mode: 'waitlist', rate_limits: { create_invitation: 1 } })).status, 200)
    const other = (await two.api.get('/v1/instance')).body
    assert.equal(other.sign_up_mode, 'public')
    assert.deepEqual(other.rate_limits, DEFAULT_LIMITS)
  })
})
