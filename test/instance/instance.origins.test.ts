import { after, before, it } from 'node:test'
import assert from 'node:assert/strict'
import { APP_ORIGIN, buildTestApp, client, type Client, type Reply, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { fapi } from '../frontend/fapi-client.js'

// Allowed by one instance of the app, not by the server's FOYER_ALLOWED_REDIRECT_ORIGINS.
const PARTNER = 'https://partner.example.org'

function assertInvalid(res: Reply, param: string, code = /^form_param_/) {
  assert.equal(res.status, 422, JSON.stringify(res.body))
  assert.match(res.body.errors[0].code, code)
  assert.equal(res.body.errors[0].meta?.param_name, param, JSON.stringify(res.body))
}

forEachDatabase('an instance\'s own allowed redirect origins', (engine) => {
  let t: TestApp
  before(async () => {
    t = await buildTestApp({ engine })
  })
  after(() => t.close())

  /** An instance that allows PARTNER, and another that does not. */
  async function twoInstances(): Promise<{ one: Client; oneId: string; two: Client; twoId: string }> {
    const a = await t.newInstance('One')
    const b = await t.newInstance('Two')
    const one = client(t.app, a.secretKey)
    assert.equal((await one.patch('/v1/instance', { allowed_redirect_origins: [PARTNER] })).status, 200)
    return { one, oneId: a.instance.id, two: client(t.app, b.secretKey), twoId: b.instance.id }
  }

  it('PATCH /v1/instance sets allowed_redirect_origins in canonical form, without repeats, beside the server\'s; [] clears them', async () => {
    const { secretKey } = await t.newInstance()
    const api = client(t.app, secretKey)
    const res = await api.patch('/v1/instance', { allowed_redirect_origins: ['https://Partner.Example.org/', 'http://127.0.0.1:*', `${PARTNER}`, ' https://x.example.org:8443 '] })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.deepEqual(res.body.allowed_redirect_origins, [PARTNER, 'http://127.0.0.1:*', 'https://x.example.org:8443'])
    assert.deepEqual(res.body.server_redirect_origins, [APP_ORIGIN, 'http://localhost:*'])
    assert.deepEqual((await api.get('/v1/instance')).body.allowed_redirect_origins, res.body.allowed_redirect_origins)
    // Left out, they stay; [] clears them.
    assert.deepEqual((await api.patch('/v1/instance', { application_name: 'Renamed' })).body.allowed_redirect_origins, res.body.allowed_redirect_origins)
    assert.deepEqual((await api.patch('/v1/instance', { allowed_redirect_origins: [] })).body.allowed_redirect_origins, [])
  })

  it('PATCH /v1/instance refuses what is not an origin with 422 naming the item, and more than 50, changing nothing', async () => {
    const { secretKey } = await t.newInstance()
    const api = client(t.app, secretKey)
    for (const bad of ['https://partner.example.org/path', 'https://partner.example.org?x=1', 'https://partner.example.org#top', 'ftp://files.example.org',
      'javascript:alert(1)', 'partner.example.org', 'https://user:pw@partner.example.org', 'https://*.example.org', '']) {
      const res = await api.patch('/v1/instance', { allowed_redirect_origins: [PARTNER, bad] })
      assertInvalid(res, 'allowed_redirect_origins[1]')
      assert.ok(res.body.errors[0].long_message.includes(JSON.stringify(bad)), res.body.errors[0].long_message)
    }
    assertInvalid(await api.patch('/v1/instance', { allowed_redirect_origins: Array.from({ length: 51 }, (_, i) => `https://app${i}.example.org`) }), 'allowed_redirect_origins')
    assertInvalid(await api.patch('/v1/instance', { allowed_redirect_origins: PARTNER }), 'allowed_redirect_origins')
    assertInvalid(await api.patch('/v1/instance', { allowed_redirect_origins: null }), 'allowed_redirect_origins')
    assert.deepEqual((await api.get('/v1/instance')).body.allowed_redirect_origins, [])
  })

  it('redirect URLs of invitations, organization invitations and the instance\'s URLs may use its origins; another instance\'s may not', async () => {
    const { one, two } = await twoInstances()
    const invitation = { email_address: 'partner@example.com', redirect_url: `${PARTNER}/welcome`, notify: false }
    assert.equal((await one.post('/v1/invitations', invitation)).status, 200)
    assertInvalid(await two.post('/v1/invitations', invitation), 'redirect_url')
    assert.equal((await one.post('/v1/invitations/bulk', [{ ...invitation, email_address: 'bulk@example.com' }])).status, 200)
    assertInvalid(await two.post('/v1/invitations/bulk', [{ ...invitation, email_address: 'bulk@example.com' }]), '[0].redirect_url')
    for (const api of [one, two]) {
      const user = await api.post('/v1/users', { email_address: [`admin.${Math.random()}@example.com`] })
      const org = await api.post('/v1/organizations', { name: 'Rockets', created_by: user.body.id })
      const res = await api.post(`/v1/organizations/${org.body.id}/invitations`, { ...invitation, role: 'org:member' })
      if (api === one) assert.equal(res.status, 200, JSON.stringify(res.body))
      else assertInvalid(res, 'redirect_url')
    }
    assert.equal((await one.patch('/v1/instance', { home_url: `${PARTNER}/home`, after_sign_up_url: `${PARTNER}/hello` })).status, 200)
    assertInvalid(await two.patch('/v1/instance', { home_url: `${PARTNER}/home` }), 'home_url')
    // The server's origins still hold for every instance.
    assert.equal((await two.post('/v1/invitations', { ...invitation, redirect_url: `${APP_ORIGIN}/welcome` })).status, 200)
  })

  it('refuses to drop an origin the home or after-sign-up URL uses (422 naming allowed_redirect_origins), unless the URL changes with it', async () => {
    const { one } = await twoInstances()
    assert.equal((await one.patch('/v1/instance', { after_sign_up_url: `${PARTNER}/hello` })).status, 200)
    const res = await one.patch('/v1/instance', { allowed_redirect_origins: [] })
    assertInvalid(res, 'allowed_redirect_origins')
    assert.match(res.body.errors[0].long_message, /after_sign_up_url \(https:\/\/partner\.example\.org\/hello\)/)
    assert.deepEqual((await one.get('/v1/instance')).body.allowed_redirect_origins, [PARTNER])
    // A URL on the new origins, or none, in the same request.
    const moved = await one.patch('/v1/instance', { allowed_redirect_origins: ['https://new.example.org'], after_sign_up_url: 'https://new.example.org/hello' })
    assert.equal(moved.status, 200, JSON.stringify(moved.body))
    assertInvalid(await one.patch('/v1/instance', { allowed_redirect_origins: [PARTNER], after_sign_up_url: 'https://new.example.org/hello' }), 'after_sign_up_url')
    assert.equal((await one.patch('/v1/instance', { allowed_redirect_origins: [], after_sign_up_url: null })).status, 200)
  })

  it('the Frontend API answers CORS to an instance\'s origin only for that instance, and refuses its POSTs for another (403 origin_invalid)', async () => {
    const { oneId, twoId } = await twoInstances()
    const f = fapi(t.app)
    const pre = (instance: string) => f.options('/v1/client/sign_ins', { origin: PARTNER, instance, headers: { 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } })
    assert.equal((await pre(oneId)).headers['access-control-allow-origin'], PARTNER)
    assert.equal((await pre(twoId)).headers['access-control-allow-origin'], undefined)
    // Unnamed means the default instance, which this app does not have: only the server's origins.
    const unnamed = await f.options('/v1/client/sign_ins', { origin: PARTNER, headers: { 'access-control-request-method': 'POST' } })
    assert.equal(unnamed.headers['access-control-allow-origin'], undefined)
    assert.equal((await f.get('/v1/client', { origin: PARTNER, instance: oneId })).headers['access-control-allow-origin'], PARTNER)
    assert.equal((await f.get('/v1/client', { origin: PARTNER, instance: twoId })).headers['access-control-allow-origin'], undefined)

    const body = { identifier: 'nobody@example.com', password: 'not the password' }
    const refused = await f.post('/v1/client/sign_ins', body, { origin: PARTNER, instance: twoId })
    assert.equal(refused.status, 403)
    assert.equal(refused.body.errors[0].code, 'origin_invalid')
    // Past the Origin check, the sign-in itself fails on its merits.
    const allowed = await f.post('/v1/client/sign_ins', body, { origin: PARTNER, instance: oneId })
    assert.notEqual(allowed.status, 403, JSON.stringify(allowed.body))
    assert.equal(allowed.headers['access-control-allow-origin'], PARTNER)
    // The organization routes of the Frontend API follow the same rule.
    assert.equal((await f.get('/v1/me/organization_invitations', { origin: PARTNER, instance: oneId })).headers['access-control-allow-origin'], PARTNER)
    assert.equal((await f.get('/v1/me/organization_invitations', { origin: PARTNER, instance: twoId })).headers['access-control-allow-origin'], undefined)
  })

  it('a signed-in session\'s instance decides when none is named: an origin of another instance cannot read it', async () => {
    const { one, oneId, two } = await twoInstances()
    const f = fapi(t.app)
    const signUp = async (api: Client, email: string) => {
      const inv = await api.post('/v1/invitations', { email_address: email, notify: false })
      const ticket = new URL(inv.body.url).searchParams.get('ticket')
      const res = await f.post('/v1/client/sign_ups', { strategy: 'ticket', ticket, password: 'correct horse battery' }, { origin: APP_ORIGIN })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      return res.session!
    }
    const inOne = await signUp(one, 'in.one@example.com')
    const inTwo = await signUp(two, 'in.two@example.com')
    assert.equal((await f.get('/v1/client', { origin: PARTNER, session: inOne })).headers['access-control-allow-origin'], PARTNER)
    assert.equal((await f.get('/v1/client', { origin: PARTNER, session: inTwo })).headers['access-control-allow-origin'], undefined)
    const signOut = await f.delete('/v1/client', { origin: PARTNER, session: inTwo })
    assert.equal(signOut.status, 403)
    assert.equal((await f.get('/v1/client', { session: inTwo })).body.response.sessions.length, 1, 'still signed in')
    // Naming instance one does not lend its origins to instance two's session: it can neither
    // read it nor end it.
    const named = await f.get('/v1/client', { origin: PARTNER, session: inTwo, instance: oneId })
    assert.equal(named.headers['access-control-allow-origin'], undefined)
    assert.equal((await f.delete('/v1/client', { origin: PARTNER, session: inTwo, instance: oneId })).status, 403)
    assert.equal((await f.get('/v1/client', { session: inTwo })).body.response.sessions.length, 1, 'still signed in')
    // No Frontend API answer may be cached: it depends on the cookie.
    assert.equal(named.headers['cache-control'], 'no-store')
  })

  it('a ticket\'s instance decides too: its origin may complete the sign-up unnamed; an origin of another instance may not', async () => {
    const { one, two } = await twoInstances()
    const OTHER = 'https://other.example.org'
    assert.equal((await two.patch('/v1/instance', { allowed_redirect_origins: [OTHER] })).status, 200)
    const f = fapi(t.app)
    const ticketOf = async (email: string) => new URL((await one.post('/v1/invitations', { email_address: email, notify: false })).body.url).searchParams.get('ticket')
    for (const form of [true, false]) {
      const refused = await f.post('/v1/client/sign_ups', { strategy: 'ticket', ticket: await ticketOf(`other.${form}@example.com`), password: 'correct horse battery' }, { origin: OTHER, form })
      assert.equal(refused.status, 403, JSON.stringify(refused.body))
      assert.equal(refused.body.errors[0].code, 'origin_invalid')
      assert.equal(refused.headers['access-control-allow-origin'], undefined)
      const done = await f.post('/v1/client/sign_ups', { strategy: 'ticket', ticket: await ticketOf(`partner.${form}@example.com`), password: 'correct horse battery' }, { origin: PARTNER, form })
      assert.equal(done.status, 200, JSON.stringify(done.body))
      assert.equal(done.headers['access-control-allow-origin'], PARTNER)
    }
    // Refusals of the input still carry CORS headers for an allowed origin, so its page can read them.
    const invalid = await f.post('/v1/client/sign_ups', { strategy: 'ticket', ticket: await ticketOf('invalid@example.com'), password: 'correct horse battery', colour: 1 }, { origin: PARTNER })
    assert.equal(invalid.headers['access-control-allow-origin'], PARTNER)
  })

  it('an invitation\'s link no longer leads to an origin the instance has stopped allowing: the hosted page instead', async () => {
    const { one } = await twoInstances()
    const inv = (await one.post('/v1/invitations', { email_address: 'moved@example.com', redirect_url: `${PARTNER}/welcome`, notify: false })).body
    const follow = async () => String((await t.app.inject({ method: 'GET', url: new URL(inv.url).pathname + new URL(inv.url).search })).headers.location)
    assert.match(await follow(), /^https:\/\/partner\.example\.org\/welcome\?__clerk_ticket=/)
    assert.equal((await one.patch('/v1/instance', { allowed_redirect_origins: [] })).status, 200)
    const now = await follow()
    assert.ok(!now.includes('partner.example.org'), now)
    assert.match(now, /\/sign-up\?.*__clerk_ticket=/)
  })

  it('hosted pages of the instance allow its origins in form-action (so a sign-in may end there); other instances\' pages do not', async () => {
    const { oneId, twoId } = await twoInstances()
    const csp = async (instance: string) => String((await t.app.inject({ method: 'GET', url: `/sign-in?instance=${instance}` })).headers['content-security-policy'])
    assert.match(await csp(oneId), /form-action 'self' https:\/\/app\.example\.com http:\/\/localhost:\* https:\/\/partner\.example\.org;/)
    assert.match(await csp(twoId), /form-action 'self' https:\/\/app\.example\.com http:\/\/localhost:\*;/)
    assert.ok(!(await csp(twoId)).includes(PARTNER))
  })
})
