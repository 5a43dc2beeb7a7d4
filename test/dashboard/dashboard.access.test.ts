import { it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { buildTestApp } from '../helpers/build-app.js'
import { buildApp, loggerOptions } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { manualClock } from '../../src/platform/clock.js'
import { createDashboardService } from '../../src/dashboard/dashboard.service.js'
import { forEachDatabase, openTestDb } from '../helpers/databases.js'
import { browser, textOf } from '../pages/page-client.js'
import { OPERATOR_SESSION_TTL_MS } from '../../src/dashboard/dashboard.service.js'
import { csrfOf, dashboardApp, formFields, issueSetupToken, OPERATOR_EMAIL, OPERATOR_PASSWORD } from './dashboard-client.js'

forEachDatabase('dashboard access', (engine) => {
  it('GET /dashboard/setup with the printed token creates the first operator once; the token then stops working', async (t) => {
    const app = await buildTestApp({ engine })
    t.after(() => app.close())
    await app.newInstance('Acme')
    const token = await issueSetupToken(app)
    const other = await issueSetupToken(app)
    assert.ok(token && other && token !== other)

    const ada = browser(app.app)
    assert.match(textOf((await ada.get('/dashboard/sign-in')).body), /No operator account exists yet/)
    const page = await ada.get(`/dashboard/setup?token=${token}`)
    assert.equal(page.statusCode, 200)
    assert.match(page.headers['content-security-policy'] as string, /default-src 'none'.*script-src 'self'/)
    // A weak password is refused on the form, and the token survives the refusal.
    const weak = await ada.post('/dashboard/setup', { ...formFields(page.body, '/dashboard/setup'), email_address: OPERATOR_EMAIL, password: 'short' })
    assert.equal(weak.statusCode, 422)
    assert.match(weak.body, /8 characters or more/)
    const done = await ada.post('/dashboard/setup', { ...formFields(weak.body, '/dashboard/setup'), email_address: OPERATOR_EMAIL, password: OPERATOR_PASSWORD })
    assert.equal(done.statusCode, 303)
    assert.equal(done.headers.location, '/dashboard')
    const cookie = done.cookies.find((c) => c.name === '__foyer_operator')
    assert.ok(cookie)
    assert.equal(cookie.httpOnly, true)
    assert.equal(cookie.sameSite, 'Lax')
    const home = await ada.follow(done)
    assert.equal(home.statusCode, 303)
    assert.match(String(home.headers.location), /^\/dashboard\/ins_\w+\/invitations$/)

    // The same token again, and any other printed before: the link is dead, the form too.
    const mallory = browser(app.app)
    for (const used of [token, other]) {
      const again = await mallory.get(`/dashboard/setup?token=${used}`)
      assert.equal(again.statusCode, 404)
      assert.match(again.body, /This setup link is not valid/)
    }
    const replay = await mallory.post('/dashboard/setup', { _csrf: csrfOf((await mallory.get('/dashboard/sign-in')).body), token, email_address: 'mallory@example.com', password: OPERATOR_PASSWORD })
    assert.equal(replay.statusCode, 404)
    assert.equal(await issueSetupToken(app), null, 'no new link once an operator exists')
    const operators = await app.db.query<{ email_address: string }>('select email_address from operators')
    assert.deepEqual(operators.map((o) => o.email_address), [OPERATOR_EMAIL])
    assert.equal((await mallory.get('/dashboard/setup?token=nonsense')).statusCode, 404)
    assert.equal((await mallory.get('/dashboard/setup')).statusCode, 404)
    assert.doesNotMatch(textOf((await mallory.get('/dashboard/sign-in')).body), /No operator account exists yet/)
    // The stylesheet and script are Foyer's own, public, and cacheable for good (their names carry their hash).
    for (const [path, type] of [[/href="(\/dashboard\/assets\/[^"]+\.css)"/, 'text/css'], [/src="(\/dashboard\/assets\/[^"]+\.js)"/, 'text/javascript']] as const) {
      const asset = await mallory.get(path.exec(page.body)![1]!)
      assert.equal(asset.statusCode, 200)
      assert.match(String(asset.headers['content-type']), new RegExp(`^${type}`))
      assert.match(String(asset.headers['cache-control']), /immutable/)
    }
  })

  it('POST /dashboard/sign-in signs in with the right password, refuses a wrong one with 422, and honours only local next paths', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const bob = browser(d.t.app)
    const wrong = await d.submit('/dashboard/sign-in', '/dashboard/sign-in', { email_address: OPERATOR_EMAIL, password: 'not the password' }, bob)
    assert.equal(wrong.statusCode, 422)
    assert.match(wrong.body, /do not match an operator account/)
    assert.equal(wrong.cookies.find((c) => c.name === '__foyer_operator'), undefined)
    const unknown = await d.submit('/dashboard/sign-in', '/dashboard/sign-in', { email_address: 'nobody@example.com', password: OPERATOR_PASSWORD }, bob)
    assert.equal(unknown.statusCode, 422)
    assert.match(unknown.body, /do not match an operator account/)

    const next = `/dashboard/${d.instanceId}/invitations?status=all`
    const gate = await bob.get(next)
    assert.equal(gate.statusCode, 303)
    const signInUrl = String(gate.headers.location)
    assert.equal(signInUrl, `/dashboard/sign-in?next=${encodeURIComponent(next)}`)
    const ok = await d.submit(signInUrl, '/dashboard/sign-in', { email_address: ' OPS@example.com ', password: OPERATOR_PASSWORD }, bob)
    assert.equal(ok.statusCode, 303)
    assert.equal(ok.headers.location, next)
    assert.equal((await bob.get(next)).statusCode, 200)

    for (const evil of ['//evil.example/x', 'https://evil.example/', '/dashboard//evil.example', '/v1/instance']) {
      const res = await d.submit(`/dashboard/sign-in?next=${encodeURIComponent(evil)}`, '/dashboard/sign-in', { email_address: OPERATOR_EMAIL, password: OPERATOR_PASSWORD }, browser(d.t.app))
      assert.equal(res.headers.location, '/dashboard', evil)
    }
  })

  it('POST /dashboard/sign-in is rate-limited per address with 429 and Retry-After, even for the right password', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const guesser = browser(d.t.app)
    const page = await guesser.get('/dashboard/sign-in')
    const form = formFields(page.body, '/dashboard/sign-in')
    for (let i = 0; i < 10; i++) {
      const res = await guesser.post('/dashboard/sign-in', { ...form, email_address: OPERATOR_EMAIL, password: `guess ${i} guess` })
      assert.equal(res.statusCode, 422)
    }
    const blocked = await guesser.post('/dashboard/sign-in', { ...form, email_address: OPERATOR_EMAIL, password: OPERATOR_PASSWORD })
    assert.equal(blocked.statusCode, 429)
    assert.ok(Number(blocked.headers['retry-after']) > 0)
    assert.match(blocked.body, /Too many failed sign-in attempts/)
    // Another address is not blocked by this one's failures.
    assert.equal((await guesser.post('/dashboard/sign-in', { ...form, email_address: 'other@example.com', password: 'not it at all' })).statusCode, 422)
  })

  it('without a session, pages redirect to sign-in and POSTs answer 401; sign-out and expiry end the session', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const anon = browser(d.t.app)
    const inv = `/dashboard/${d.instanceId}/invitations`
    for (const path of ['/dashboard', inv, `${inv}/inv_123`, `${inv}/inv_123/delete`, '/dashboard/instances/new', `/dashboard/switch?instance=${d.instanceId}`, '/dashboard/ins_nope/invitations']) {
      const res = await anon.get(path)
      assert.equal(res.statusCode, 303, path)
      assert.match(String(res.headers.location), /^\/dashboard\/sign-in\?next=/, path)
      assert.doesNotMatch(res.body, /Acme/)
    }
    const csrf = csrfOf((await anon.get('/dashboard/sign-in')).body)
    for (const path of [inv, `${inv}/inv_123/revoke`, `${inv}/inv_123/resend`, `${inv}/inv_123/delete`, '/dashboard/instances', '/dashboard/sign-out']) {
      const res = await anon.post(path, { _csrf: csrf, emails: 'x@example.com', name: 'X' })
      assert.equal(res.statusCode, 401, path)
      assert.match(res.body, /not signed in/)
    }
    const forged = await d.t.app.inject({ method: 'GET', url: inv, headers: { cookie: '__foyer_operator=forged' } })
    assert.equal(forged.statusCode, 303)
    assert.equal((await d.t.app.inject({ method: 'GET', url: inv, headers: { authorization: `Bearer ${d.secretKey}` } })).statusCode, 303, 'a secret key is no operator session')

    // Sign-out deletes the session server-side: the old cookie no longer works.
    const token = d.op.jar.get('__foyer_operator')!
    const out = await d.submit(inv, '/dashboard/sign-out')
    assert.equal(out.statusCode, 303)
    assert.equal(out.headers.location, '/dashboard/sign-in?signed_out=1')
    assert.equal((await d.t.app.inject({ method: 'GET', url: inv, headers: { cookie: `__foyer_operator=${token}` } })).statusCode, 303)

    const again = await d.submit('/dashboard/sign-in', '/dashboard/sign-in', { email_address: OPERATOR_EMAIL, password: OPERATOR_PASSWORD })
    assert.equal(again.statusCode, 303)
    assert.equal((await d.op.get(inv)).statusCode, 200)
    d.t.clock.advance(OPERATOR_SESSION_TTL_MS + 1)
    assert.equal((await d.op.get(inv)).statusCode, 303, 'an expired session signs nobody in')
  })
})

it('never writes the setup token into the log', async () => {
  const { db, drop } = await openTestDb('pglite')
  const lines: string[] = []
  const config = loadConfig({ FOYER_PUBLIC_URL: 'http://foyer.test', FOYER_TESTING: '1' })
  const clock = manualClock(Date.now())
  const { app, services } = await buildApp({
    config, db, clock, serverSecret: randomBytes(32),
    logger: { ...loggerOptions('debug') as object, stream: { write: (line: string) => { lines.push(line) } } },
  })
  try {
    const token = await createDashboardService({ db, clock, instances: services.instances }).issueSetupToken()
    assert.ok(token)
    await app.inject({ method: 'GET', url: `/dashboard/setup?token=${token}` })
    assert.ok(lines.some((l) => l.includes('/dashboard/setup?token=[redacted]')), 'the request is logged, redacted')
    assert.deepEqual(lines.filter((l) => l.includes(token)), [])
  } finally {
    await app.close()
    await drop()
  }
})
