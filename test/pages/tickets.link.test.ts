import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { buildApp, loggerOptions } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { DAY_MS, manualClock } from '../../src/platform/clock.js'
import { APP_ORIGIN, buildTestApp, client, PUBLIC_URL, uniqueEmail, type Client, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase, openTestDb } from '../helpers/databases.js'
import { makeInvitation, makeUser } from '../helpers/factories.js'
import { browser, pathOf, textOf } from './page-client.js'

const ticketOf = (url: string) => new URL(url).searchParams.get('ticket')!

forEachDatabase('GET /v1/tickets/accept', (engine) => {
  let t: TestApp
  let api: Client
  let instanceId: string
  before(async () => {
    t = await buildTestApp({ engine })
    const { instance, secretKey } = await t.newInstance('Acme')
    instanceId = instance.id
    api = client(t.app, secretKey)
  })
  after(() => t.close())

  const open = (url: string) => t.app.inject({ method: 'GET', url: pathOf(url) })
  const statusOf = async (id: string) => (await api.get(`/v1/invitations?query=${id}&status=${'pending'}`)).body.length > 0 ? 'pending' : 'not pending'

  it('redirects a usable invitation without an account to /sign-up with the ticket and __clerk_status=sign_up', async () => {
    const inv = await makeInvitation(api)
    const res = await open(inv.url)
    assert.equal(res.statusCode, 303)
    const location = new URL(String(res.headers.location))
    assert.equal(location.origin, PUBLIC_URL)
    assert.equal(location.pathname, '/sign-up')
    assert.equal(location.searchParams.get('__clerk_ticket'), ticketOf(inv.url))
    assert.equal(location.searchParams.get('__clerk_status'), 'sign_up')
    assert.equal(location.searchParams.get('instance'), instanceId)
    assert.equal(res.headers['cache-control'], 'no-store')
    assert.equal(res.headers['referrer-policy'], 'no-referrer')
  })

  it('redirects a usable invitation whose address has an account to /sign-in with __clerk_status=sign_in', async () => {
    const email = uniqueEmail()
    await makeUser(t.db, instanceId, email)
    const inv = await makeInvitation(api, { email_address: email, ignore_existing: true })
    const location = new URL(String((await open(inv.url)).headers.location))
    assert.equal(location.pathname, '/sign-in')
    assert.equal(location.searchParams.get('__clerk_ticket'), ticketOf(inv.url))
    assert.equal(location.searchParams.get('__clerk_status'), 'sign_in')
  })

  it('redirects to the invitation\'s redirect_url, with the ticket and status appended', async () => {
    const inv = await makeInvitation(api, { redirect_url: `${APP_ORIGIN}/accept-invite?from=email` })
    const location = new URL(String((await open(inv.url)).headers.location))
    assert.equal(`${location.origin}${location.pathname}`, `${APP_ORIGIN}/accept-invite`)
    assert.equal(location.searchParams.get('from'), 'email')
    assert.equal(location.searchParams.get('__clerk_ticket'), ticketOf(inv.url))
    assert.equal(location.searchParams.get('__clerk_status'), 'sign_up')
  })

  it('redirects an accepted invitation to /sign-in with __clerk_status=complete and no ticket', async () => {
    const inv = await makeInvitation(api)
    const b = browser(t.app)
    const signUp = await b.follow(await b.get(inv.url))
    assert.equal((await b.submit(signUp, { password: 'correct horse' })).statusCode, 303)
    const res = await open(inv.url)
    assert.equal(res.statusCode, 303)
    const location = new URL(String(res.headers.location))
    assert.equal(location.pathname, '/sign-in')
    assert.equal(location.searchParams.get('__clerk_status'), 'complete')
    assert.equal(location.searchParams.get('__clerk_ticket'), null)
    const page = await t.app.inject({ url: pathOf(location.href) })
    assert.match(textOf(page.body), /This invitation has already been accepted — sign in\./)
  })

  it('shows a 410 page saying a revoked invitation was withdrawn', async () => {
    const inv = await makeInvitation(api)
    assert.equal((await api.post(`/v1/invitations/${inv.id}/revoke`)).status, 200)
    const res = await open(inv.url)
    assert.equal(res.statusCode, 410)
    assert.equal(res.headers['content-type'], 'text/html; charset=utf-8')
    assert.match(textOf(res.body), /This invitation was withdrawn .* revoked/)
  })

  it('shows a 404 page for an unknown, malformed or missing ticket', async () => {
    for (const url of ['/v1/tickets/accept?ticket=' + randomBytes(32).toString('base64url'), '/v1/tickets/accept?ticket=%3Cscript%3E', '/v1/tickets/accept']) {
      const res = await open(url)
      assert.equal(res.statusCode, 404, url)
      assert.equal(res.headers['content-type'], 'text/html; charset=utf-8')
      assert.match(textOf(res.body), /This invitation link is not valid/)
      assert.ok(!res.body.includes('<script>'))
    }
  })

  it('consumes nothing however often the link is opened', async () => {
    const inv = await makeInvitation(api)
    for (let i = 0; i < 3; i++) assert.equal((await open(inv.url)).statusCode, 303)
    assert.equal(await statusOf(inv.id), 'pending')
    // ... and the page it leads to does not either.
    const b = browser(t.app)
    const page = await b.follow(await b.get(inv.url))
    await b.get(String((await open(inv.url)).headers.location))
    assert.equal(page.statusCode, 200)
    assert.equal(await statusOf(inv.id), 'pending')
  })

  describe('an invitation past its expiry', () => {
    it('redirects to the hosted /sign-up with no ticket', async () => {
      const { instance, secretKey } = await t.newInstance('Expiring')
      const own = client(t.app, secretKey)
      const inv = await makeInvitation(own, { expires_in_days: 1 })
      assert.equal((await own.post('/v1/testing/clock', { advance_ms: 2 * DAY_MS })).status, 200)
      const res = await open(inv.url)
      assert.equal(res.statusCode, 303)
      const location = new URL(String(res.headers.location))
      assert.equal(location.pathname, '/sign-up')
      assert.deepEqual([...location.searchParams.keys()], ['instance'])
      assert.equal(location.searchParams.get('instance'), instance.id)
    })
  })
})

describe('GET /v1/tickets/accept logging', () => {
  it('never writes the ticket into the log, on the link or on the pages it leads to', async () => {
    const { db, drop } = await openTestDb('pglite')
    const lines: string[] = []
    const config = loadConfig({ FOYER_PUBLIC_URL: PUBLIC_URL, FOYER_TESTING: '1' })
    const { app, services } = await buildApp({
      config, db, clock: manualClock(Date.now()), serverSecret: randomBytes(32),
      logger: { ...loggerOptions('debug') as object, stream: { write: (line: string) => { lines.push(line) } } },
    })
    try {
      const { secretKey } = await services.instances.create({ name: 'Logged' })
      const inv = await makeInvitation(client(app, secretKey))
      const ticket = ticketOf(inv.url)
      const b = browser(app)
      const signUp = await b.follow(await b.get(inv.url))
      await b.submit(signUp, { password: 'short' })
      await b.get(`/sign-in?__clerk_ticket=${ticket}`)
      assert.ok(lines.some((l) => l.includes('/v1/tickets/accept?ticket=[redacted]')), 'the link is logged, redacted')
      assert.ok(lines.some((l) => l.includes('__clerk_ticket=[redacted]')), 'the page is logged, redacted')
      assert.deepEqual(lines.filter((l) => l.includes(ticket)), [])
    } finally {
      await app.close()
      await drop()
    }
  })
})
