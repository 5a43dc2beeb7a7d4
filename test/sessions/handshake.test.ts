import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createClerkClient } from '@clerk/backend'
import { PASSWORD, signedUp as signUpWithTicket } from './signed-up.js'
import { buildTestApp, client, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { claimsOf } from '../helpers/jwt.js'
import { addMember, makeInvitation, makeOrganization } from '../helpers/factories.js'
import { fapi, ticketOf, type Fapi } from '../frontend/fapi-client.js'
import { SESSION_COOKIE } from '../../src/accept/session-cookie.js'
import { cookieSuffix } from '../../src/sessions/clerk-cookies.js'
import { createHandshakeStore } from '../../src/sessions/handshake.store.js'

const APP = 'http://localhost:5173'

/** The cookies a list of Set-Cookie lines leaves, by name ('' for a deleted one). */
function jar(lines: string[]): Map<string, string> {
  const cookies = new Map<string, string>()
  for (const line of lines) {
    const [pair] = line.split(';')
    const at = pair!.indexOf('=')
    cookies.set(pair!.slice(0, at), /max-age=0(;|$)/i.test(line) ? '' : pair!.slice(at + 1))
  }
  return cookies
}

forEachDatabase('the handshake', (engine) => {
  let t: TestApp
  let f: Fapi
  let apiUrl: string

  before(async () => {
    t = await buildTestApp({ engine })
    f = fapi(t.app)
    apiUrl = await t.app.listen({ port: 0, host: '127.0.0.1' })
  })
  after(() => t.close())

  const signedUp = () => signUpWithTicket(t)

  /** The handshake as Clerk's middleware sends the browser to it, with the browser's Foyer cookie if any. */
  async function handshake(query: Record<string, string>, cookie: string | null, prefix = '') {
    return t.app.inject({
      method: 'GET', url: `${prefix}/v1/client/handshake?${new URLSearchParams(query)}`,
      headers: cookie ? { cookie: `${SESSION_COOKIE}=${encodeURIComponent(cookie)}` } : {},
    })
  }

  /** What the application's middleware makes of the first request after the handshake. */
  async function landOn(location: string, s: { secretKey: string; instance: { publishableKey: string } }, cookies = '') {
    const clerk = createClerkClient({ secretKey: s.secretKey, apiUrl, publishableKey: s.instance.publishableKey, proxyUrl: apiUrl, telemetry: { disabled: true } })
    return clerk.authenticateRequest(new Request(location, { headers: { accept: 'text/html', 'sec-fetch-dest': 'document', ...(cookies ? { cookie: cookies } : {}) } }))
  }

  describe('GET /v1/client/handshake', () => {
    // @see issue 13
    it('sends a signed-in browser back with a nonce that @clerk/backend trades for its session, once', async () => {
      const s = await signedUp()
      const res = await handshake({ redirect_url: `${APP}/welcome?x=1`, format: 'nonce', suffixed_cookies: 'false', __clerk_hs_reason: 'dev-browser-missing' }, s.cookie, `/fapi/${s.instance.id}`)
      assert.equal(res.statusCode, 307)
      assert.equal(res.headers['cache-control'], 'no-store')
      const location = new URL(res.headers.location as string)
      assert.equal(location.origin + location.pathname, `${APP}/welcome`)
      assert.equal(location.searchParams.get('x'), '1')
      assert.ok(location.searchParams.get('__clerk_handshake_nonce'))

      const state = await landOn(location.href, s)
      assert.equal(state.status, 'signed-in', state.message ?? '')
      const auth = state.toAuth() as { userId: string; sessionId: string }
      assert.equal(auth.userId, s.userId)
      assert.equal(auth.sessionId, s.sessionId)
      const cookies = jar(state.headers.getSetCookie())
      const token = cookies.get('__session')!
      assert.equal(claimsOf(token).azp, APP)
      assert.ok(Number(cookies.get('__client_uat')) <= claimsOf(token).iat, '__client_uat is never after the token')
      assert.ok(cookies.get('__clerk_db_jwt'), 'a development instance gets the development-browser cookie')
      assert.ok(cookies.get(`__refresh_${cookieSuffix(s.instance.publishableKey)}`))
      // Development strips the carrier with one more redirect, to the same page.
      assert.equal(new URL(state.headers.get('location')!).searchParams.get('__clerk_handshake_nonce'), null)

      // The application may trade the nonce again within a reload's window, never after it.
      const payload = () => fetch(`${apiUrl}/v1/clients/handshake_payload?nonce=${location.searchParams.get('__clerk_handshake_nonce')}`, { headers: { authorization: `Bearer ${s.secretKey}` } })
      assert.equal((await payload()).status, 200)
      t.clock.advance(11_000)
      try {
        assert.equal((await payload()).status, 404)
      } finally {
        t.clock.advance(-11_000) // tokens of later tests must not be issued in the future
      }
    })

    // @see issue 13
    it('keeps a production browser signed in by its cookies when a reload trades a spent nonce, and signs out an invented one', async () => {
      const { instance, secretKey } = await t.services.instances.create({ name: 'Live', secretKey: `sk_live_${'x'.repeat(20)}${Date.now()}` })
      assert.match(instance.publishableKey, /^pk_live_/)
      const invitation = await makeInvitation(client(t.app, secretKey))
      const res = await f.post('/v1/client/sign_ups', { strategy: 'ticket', ticket: ticketOf(invitation), password: PASSWORD })
      const s = { instance, secretKey, cookie: res.session!, userId: res.body.response.created_user_id as string }
      const landing = (await handshake({ redirect_url: `${APP}/welcome`, format: 'nonce' }, s.cookie, `/fapi/${instance.id}`)).headers.location as string
      const first = await landOn(landing, s)
      assert.equal(first.status, 'signed-in', first.message ?? '')
      // Production keeps the nonce in the URL: the page as the browser has it now, with its cookies.
      const cookies = first.headers.getSetCookie().map((line) => line.split(';')[0]).join('; ')
      t.clock.advance(11_000)
      try {
        const reload = await landOn(landing, s, cookies)
        assert.equal(reload.status, 'signed-in', reload.message ?? '')
        assert.equal((reload.toAuth() as { userId: string }).userId, s.userId)
        const forged = new URL(landing)
        forged.searchParams.set('__clerk_handshake_nonce', 'invented.nonce')
        assert.equal((await landOn(forged.href, s, cookies)).status, 'signed-out')
      } finally {
        t.clock.advance(-11_000)
      }
    })

    // @see issue 13
    it('carries a signed token when asked for one, with suffixed cookies', async () => {
      const s = await signedUp()
      const res = await handshake({ redirect_url: `${APP}/`, format: 'token', suffixed_cookies: 'true' }, s.cookie, `/fapi/${s.instance.id}`)
      assert.equal(res.statusCode, 307)
      const location = new URL(res.headers.location as string)
      const carried = location.searchParams.get('__clerk_handshake')!
      const lines: string[] = claimsOf(carried).handshake
      const suffix = cookieSuffix(s.instance.publishableKey)
      const cookies = jar(lines)
      assert.ok(cookies.get(`__session_${suffix}`))
      assert.ok(cookies.get('__session'))
      assert.ok(cookies.get(`__client_uat_${suffix}`))
      const state = await landOn(location.href, s)
      assert.equal(state.status, 'signed-in', state.message ?? '')
      assert.equal((state.toAuth() as { userId: string }).userId, s.userId)
    })

    // @see issue 13
    it('signs the browser out when it has no session of this instance: none, ended, or another instance\'s', async () => {
      const s = await signedUp()
      const other = await signedUp()
      const ended = await signedUp()
      await t.services.accept.signOut(ended.cookie)
      for (const [cookie, who] of [[null, 'no cookie'], [other.cookie, 'another instance'], [ended.cookie, 'signed out']] as const) {
        const res = await handshake({ redirect_url: `${APP}/`, format: 'nonce' }, cookie, `/fapi/${s.instance.id}`)
        assert.equal(res.statusCode, 307, who)
        const state = await landOn(res.headers.location as string, s)
        assert.equal(state.status, 'signed-out', who)
        const cookies = jar(state.headers.getSetCookie())
        assert.equal(cookies.get('__client_uat'), '0', who)
        assert.equal(cookies.get('__session'), '', who)
      }
    })

    // @see issue 13
    it('serves each instance under its own path, and the default instance at the root', async () => {
      await t.services.instances.bootstrap(null)
      const s = await signedUp()
      // The default instance does not know this browser's session, which is another instance's.
      const atRoot = await handshake({ redirect_url: `${APP}/`, format: 'token' }, s.cookie)
      assert.equal(atRoot.statusCode, 307)
      assert.equal(jar(claimsOf(new URL(atRoot.headers.location as string).searchParams.get('__clerk_handshake')!).handshake).get('__client_uat'), '0')
      // Its own path does, whatever instance the query names.
      const own = await handshake({ redirect_url: `${APP}/`, format: 'token', instance: 'ins_someoneelse' }, s.cookie, `/fapi/${s.instance.id}`)
      const lines = claimsOf(new URL(own.headers.location as string).searchParams.get('__clerk_handshake')!).handshake
      assert.equal(claimsOf(jar(lines).get('__session')!).sub, s.userId)
      assert.equal((await handshake({ redirect_url: `${APP}/` }, null, '/fapi/ins_doesnotexist')).statusCode, 404)
    })

    // @see issue 13
    it('refuses a redirect_url the instance does not allow with a page, never a redirect', async () => {
      const s = await signedUp()
      for (const redirect of ['https://evil.example/steal', 'javascript:alert(1)', 'not a url', `${APP.replace('localhost', 'localhost.evil.example')}/`]) {
        const res = await handshake({ redirect_url: redirect, format: 'nonce' }, s.cookie, `/fapi/${s.instance.id}`)
        assert.equal(res.statusCode, 400, redirect)
        assert.equal(res.headers.location, undefined, redirect)
        assert.match(res.headers['content-type'] as string, /text\/html/)
        assert.match(res.body, /redirect_url|allow/, redirect)
      }
      assert.equal((await handshake({ format: 'nonce' }, s.cookie, `/fapi/${s.instance.id}`)).statusCode, 400)
      assert.equal((await handshake({ redirect_url: `${APP}/`, format: 'cookie' }, s.cookie, `/fapi/${s.instance.id}`)).statusCode, 400)
    })
  })

  describe('flooding', () => {
    // @see issue 13
    it('limits handshakes per IP, with a page and Retry-After', async () => {
      const { instance } = await t.newInstance()
      const from = (ip: string) => t.app.inject({ method: 'GET', url: `/fapi/${instance.id}/v1/client/handshake?redirect_url=${encodeURIComponent(`${APP}/`)}&format=token`, remoteAddress: ip })
      const statuses = new Map<number, number>()
      for (let i = 0; i < 1201; i++) {
        const { statusCode } = await from('203.0.113.9')
        statuses.set(statusCode, (statuses.get(statusCode) ?? 0) + 1)
      }
      assert.deepEqual([...statuses], [[307, 1200], [429, 1]])
      const refused = await from('203.0.113.9')
      assert.equal(refused.statusCode, 429)
      assert.ok(Number(refused.headers['retry-after']) > 0)
      assert.match(refused.headers['content-type'] as string, /text\/html/)
      assert.equal((await from('203.0.113.10')).statusCode, 307, 'another IP is not held back')
    })

    // @see issue 13
    it('drops expired nonces, used or not, and keeps live ones', async () => {
      const { instance } = await t.newInstance()
      const store = createHandshakeStore()
      const now = Date.now()
      await store.insert(t.db, [
        { nonceHash: `expired-${now}`, instanceId: instance.id, directives: ['a=1'], now: now - 300_000, expiresAt: now - 1 },
        { nonceHash: `live-${now}`, instanceId: instance.id, directives: ['a=1'], now, expiresAt: now + 60_000 },
      ])
      await store.sweep(t.db, now)
      const left = await t.db.query<{ nonce_hash: string }>('select nonce_hash from handshake_nonces where instance_id = $1', [instance.id])
      assert.deepEqual(left.map((r) => r.nonce_hash), [`live-${now}`])
    })
  })

  describe('organizations', () => {
    /** Someone who signed up through an invitation into an organization of a new instance. */
    async function joined(role: string) {
      const { instance, secretKey } = await t.newInstance()
      const api = client(t.app, secretKey)
      const org = await makeOrganization(api, { slug: `team-${Date.now().toString(36)}` })
      const inv = await api.post(`/v1/organizations/${org.id}/invitations`, { email_address: `p${Date.now()}@example.com`, role, notify: false })
      assert.equal(inv.status, 200, JSON.stringify(inv.body))
      const res = await f.post('/v1/client/sign_ups', { strategy: 'ticket', ticket: ticketOf(inv.body), password: PASSWORD })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      return { instance, secretKey, api, org, cookie: res.session!, userId: res.body.response.created_user_id as string }
    }
    const sessionTokenOf = async (res: { headers: Record<string, unknown> }) =>
      jar(claimsOf(new URL(String(res.headers.location)).searchParams.get('__clerk_handshake')!).handshake).get('__session')!

    // @see issue 13
    it('signs the application in to the organization an invitation made the person a member of, with its role', async () => {
      const s = await joined('org:admin')
      const res = await handshake({ redirect_url: `${APP}/`, format: 'nonce' }, s.cookie, `/fapi/${s.instance.id}`)
      const state = await landOn(res.headers.location as string, s)
      const auth = state.toAuth() as { userId: string; orgId: string; orgRole: string; orgSlug: string }
      assert.deepEqual([auth.userId, auth.orgId, auth.orgRole, auth.orgSlug], [s.userId, s.org.id, 'org:admin', s.org.slug])
    })

    // @see issue 13
    it('switches the organization with organization_id, only to one the person belongs to, and drops a membership removed since', async () => {
      const s = await joined('org:member')
      const other = await makeOrganization(s.api)
      const notMine = await makeOrganization(s.api)
      await addMember(s.api, other.id, s.userId, 'org:admin')
      const at = (organization_id?: string) =>
        handshake({ redirect_url: `${APP}/`, format: 'token', ...(organization_id === undefined ? {} : { organization_id }) }, s.cookie, `/fapi/${s.instance.id}`)
      assert.deepEqual(claimsOf(await sessionTokenOf(await at(other.slug))).o, { id: other.id, slg: other.slug, rol: 'admin' })
      assert.equal(claimsOf(await sessionTokenOf(await at(notMine.id))).o.id, other.id, 'not a member: unchanged')
      assert.equal(claimsOf(await sessionTokenOf(await at())).o.id, other.id, 'absent: unchanged')
      assert.equal(claimsOf(await sessionTokenOf(await at(''))).o, undefined, 'empty: the personal account')
      await at(s.org.id)
      assert.equal((await s.api.delete(`/v1/organizations/${s.org.id}/memberships/${s.userId}`)).status, 200)
      assert.equal(claimsOf(await sessionTokenOf(await at())).o, undefined, 'a removed membership is no longer claimed')
    })
  })

  describe('allowed origins', () => {
    // @see issue 13
    it('follows a change of the instance\'s allowed origins at once, both ways', async () => {
      const s = await signedUp()
      const to = async () => (await handshake({ redirect_url: 'https://app.example.org/', format: 'token' }, s.cookie, `/fapi/${s.instance.id}`)).statusCode
      assert.equal(await to(), 400)
      assert.equal((await s.api.patch('/v1/instance', { allowed_redirect_origins: ['https://app.example.org'] })).status, 200)
      assert.equal(await to(), 307)
      assert.equal((await s.api.patch('/v1/instance', { allowed_redirect_origins: [] })).status, 200)
      assert.equal(await to(), 400)
    })
  })

  describe('GET /v1/clients/handshake_payload', () => {
    // @see issue 13
    it('answers only the instance the nonce was made for', async () => {
      const s = await signedUp()
      const other = await signedUp()
      const res = await handshake({ redirect_url: `${APP}/`, format: 'nonce' }, s.cookie, `/fapi/${s.instance.id}`)
      const nonce = new URL(res.headers.location as string).searchParams.get('__clerk_handshake_nonce')!
      const as = (key: string) => fetch(`${apiUrl}/v1/clients/handshake_payload?nonce=${nonce}`, { headers: { authorization: `Bearer ${key}` } })
      const refused = await as(other.secretKey)
      assert.equal(refused.status, 404)
      assert.equal((await refused.json()).errors[0].code, 'resource_not_found')
      const answered = await as(s.secretKey)
      assert.equal(answered.status, 200)
      const body = await answered.json()
      assert.deepEqual(Object.keys(body), ['directives'])
      assert.equal((await fetch(`${apiUrl}/v1/clients/handshake_payload`, { headers: { authorization: `Bearer ${s.secretKey}` } })).status, 422)
    })

    // @see issue 13
    it('gives each of many concurrent handshakes its own nonce, with its own person\'s token', async () => {
      const people = [await signedUp(), await signedUp(), await signedUp()]
      // Concurrent handshakes share nonce inserts: each must still get back only its own.
      const rounds = await Promise.all(Array.from({ length: 30 }, async (_, i) => {
        const s = people[i % people.length]!
        const res = await handshake({ redirect_url: `${APP}/${i}`, format: 'nonce' }, s.cookie, `/fapi/${s.instance.id}`)
        assert.equal(res.statusCode, 307)
        return { s, nonce: new URL(res.headers.location as string).searchParams.get('__clerk_handshake_nonce')! }
      }))
      assert.equal(new Set(rounds.map((r) => r.nonce)).size, rounds.length)
      for (const { s, nonce } of rounds) {
        const res = await fetch(`${apiUrl}/v1/clients/handshake_payload?nonce=${nonce}`, { headers: { authorization: `Bearer ${s.secretKey}` } })
        assert.equal(res.status, 200)
        const token = jar((await res.json()).directives).get('__session')!
        assert.equal(claimsOf(token).sub, s.userId)
      }
    })
  })
})
