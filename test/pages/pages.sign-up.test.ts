import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { APP_ORIGIN, buildTestApp, client, uniqueEmail, type Client, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { makeInvitation } from '../helpers/factories.js'
import { SESSION_COOKIE } from '../../src/accept/session-cookie.js'
import { browser, formOf, intoApplication, pathOf, textOf, type Browser } from './page-client.js'

forEachDatabase('hosted sign-up', (engine) => {
  let t: TestApp
  before(async () => { t = await buildTestApp({ engine }) })
  after(() => t.close())

  const newApi = async (name = 'Acme') => {
    const { instance, secretKey } = await t.newInstance(name)
    return { instance, api: client(t.app, secretKey) }
  }
  const pendingIds = async (api: Client) => ((await api.get('/v1/invitations?status=pending')).body as { id: string }[]).map((i) => i.id)
  const signedInAs = async (b: Browser) => (await t.services.accept.session(b.jar.get(SESSION_COOKIE)))?.user ?? null
  /** Opens an invitation's link the way a person does: the email link, then the page it redirects to. */
  const openInvitation = async (b: Browser, url: string) => b.follow(await b.get(url))

  describe('GET /sign-up with an invitation', () => {
    it('shows the invited address as text, not as a field, on a page with strict headers', async () => {
      const { api } = await newApi()
      const inv = await makeInvitation(api)
      const page = await openInvitation(browser(t.app), inv.url)
      assert.equal(page.statusCode, 200)
      assert.equal(page.headers['content-type'], 'text/html; charset=utf-8')
      assert.match(String(page.headers['content-security-policy']), /default-src 'none'.*frame-ancestors 'none'/)
      assert.ok(!/script-src|unsafe-inline/.test(String(page.headers['content-security-policy'])))
      assert.equal(page.headers['x-frame-options'], 'DENY')
      assert.equal(page.headers['referrer-policy'], 'no-referrer')
      assert.equal(page.headers['cache-control'], 'no-store')
      assert.match(page.body, /<meta name="viewport" content="width=device-width, initial-scale=1">/)
      assert.match(page.body, new RegExp(`<dd id="invited-email">${inv.email_address}</dd>`))
      const { fields } = formOf(page.body)
      assert.deepEqual(Object.keys(fields).sort(), ['__clerk_ticket', '_csrf', 'first_name', 'last_name', 'password'])
      assert.match(page.body, /<label for="password">Password<\/label>/)
    })
  })

  describe('POST /sign-up with an invitation', () => {
    it('creates the invited user, verified, signs them in and lands on the welcome page', async () => {
      const { api, instance } = await newApi()
      const inv = await makeInvitation(api, { public_metadata: { plan: 'pro' } })
      const b = browser(t.app)
      const done = await b.submit(await openInvitation(b, inv.url), {
        password: 'correct horse battery', first_name: 'Ada', last_name: 'Lovelace',
        // Not a field of the form: whatever is posted here, the address is the ticket's.
        email_address: 'mallory@evil.example',
      })
      assert.equal(done.statusCode, 303)
      assert.equal(pathOf(String(done.headers.location)), `/welcome?instance=${instance.id}`)
      const cookie = (done.cookies as { name: string; httpOnly?: boolean; sameSite?: string; path?: string }[]).find((c) => c.name === SESSION_COOKIE)
      assert.ok(cookie?.httpOnly)
      assert.equal(cookie.sameSite, 'Lax')
      assert.equal(cookie.path, '/')
      const user = await signedInAs(b)
      assert.ok(user)
      assert.deepEqual(user.email_addresses.map((e) => [e.email_address, e.verification_strategy, e.verified_at !== null]), [[inv.email_address, 'ticket', true]])
      assert.deepEqual([user.first_name, user.last_name, user.public_metadata], ['Ada', 'Lovelace', { plan: 'pro' }])
      assert.equal((await t.db.query(`select count(*)::int as n from email_addresses where email_address = 'mallory@evil.example'`))[0]!.n, 0)
      assert.ok(!(await pendingIds(api)).includes(inv.id), 'accepted')
      const welcome = await b.follow(done)
      assert.match(textOf(welcome.body), new RegExp(`You're in Welcome, Ada! You are signed in to Acme as ${inv.email_address.replaceAll('.', '\\.')}`))
    })

    it('sends the person to the instance\'s after-sign-up URL when it has one', async () => {
      const { api } = await newApi()
      assert.equal((await api.patch('/v1/instance', { after_sign_up_url: `${APP_ORIGIN}/onboarding` })).status, 200)
      const inv = await makeInvitation(api)
      const b = browser(t.app)
      const done = await b.submit(await openInvitation(b, inv.url), { password: 'correct horse battery' })
      assert.equal(intoApplication(done.headers.location), `${APP_ORIGIN}/onboarding`)
    })

    it('keeps the form, with a 422 and the reason, for a short password; the invitation stays pending', async () => {
      const { api } = await newApi()
      const inv = await makeInvitation(api)
      const b = browser(t.app)
      const res = await b.submit(await openInvitation(b, inv.url), { password: 'short', first_name: 'Ada' })
      assert.equal(res.statusCode, 422)
      assert.match(textOf(res.body), /Passwords must be 8 characters or more\./)
      assert.match(res.body, /<input id="password"[^>]* aria-invalid="true">/)
      assert.equal(formOf(res.body).fields.first_name, 'Ada')
      assert.ok((await pendingIds(api)).includes(inv.id))
    })

    it('says plainly that a used invitation was accepted already (410), and creates nobody', async () => {
      const { api } = await newApi()
      const inv = await makeInvitation(api)
      const first = browser(t.app)
      const form = await openInvitation(first, inv.url)
      const second = browser(t.app)
      const sameForm = await openInvitation(second, inv.url)
      assert.equal((await first.submit(form, { password: 'correct horse battery' })).statusCode, 303)
      const res = await second.submit(sameForm, { password: 'another password' })
      assert.equal(res.statusCode, 410)
      assert.match(textOf(res.body), /This invitation has already been accepted/)
      assert.equal(await signedInAs(second), null)
    })

    it('refuses a post without a valid CSRF token with a 403 page, and consumes nothing', async () => {
      const { api } = await newApi()
      const inv = await makeInvitation(api)
      const b = browser(t.app)
      const page = await openInvitation(b, inv.url)
      const { fields } = formOf(page.body)
      const missing = await b.post('/sign-up', { ...fields, _csrf: '', password: 'correct horse battery' })
      assert.equal(missing.statusCode, 403)
      assert.equal(missing.headers['content-type'], 'text/html; charset=utf-8')
      assert.match(textOf(missing.body), /This form has expired or was not sent from this site/)
      // A token from another browser's page does not match this browser's secret.
      const other = formOf((await openInvitation(browser(t.app), inv.url)).body).fields._csrf!
      assert.equal((await b.post('/sign-up', { ...fields, _csrf: other, password: 'correct horse battery' })).statusCode, 403)
      // A forged cross-site post carries no cookie at all.
      const forged = await t.app.inject({ method: 'POST', url: '/sign-up', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ ...fields, password: 'correct horse battery' }).toString() })
      assert.equal(forged.statusCode, 403)
      assert.ok((await pendingIds(api)).includes(inv.id))
    })
  })

  describe('escaping', () => {
    it('renders a hostile application name, metadata and names as inert text', async () => {
      const { api } = await newApi('<script>alert("app")</script>')
      const inv = await makeInvitation(api, { public_metadata: { note: '<script>alert("meta")</script>' } })
      const b = browser(t.app)
      const page = await openInvitation(b, inv.url)
      assert.ok(!page.body.includes('<script>'), 'no live script tag')
      assert.ok(page.body.includes('&lt;script&gt;alert(&quot;app&quot;)&lt;/script&gt;'))
      const done = await b.submit(page, { password: 'correct horse battery', first_name: '<img src=x onerror=alert(1)>', last_name: '"><script>alert(2)</script>' })
      const welcome = await b.follow(done)
      assert.ok(!/<img|<script>/.test(welcome.body))
      assert.ok(welcome.body.includes('Welcome, &lt;img src=x onerror=alert(1)&gt;!'))
    })

    it('re-renders a hostile email address typed into the public form as an attribute value, escaped', async () => {
      const { instance } = await newApi()
      const b = browser(t.app)
      const page = await b.get(`/sign-up?instance=${instance.id}`)
      const res = await b.submit(page, { email_address: '"><script>alert(1)</script>@example.com', password: 'correct horse battery' })
      assert.equal(res.statusCode, 422)
      assert.ok(!res.body.includes('<script>'))
      assert.ok(res.body.includes('value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;@example.com"'))
      assert.match(textOf(res.body), /Enter a valid email address/)
    })
  })

  describe('without an invitation', () => {
    it('public mode: email and password, then the emailed code, then signed in', async () => {
      const { instance } = await newApi()
      const b = browser(t.app)
      const email = uniqueEmail()
      const page = await b.get(`/sign-up?instance=${instance.id}`)
      assert.equal(page.statusCode, 200)
      const started = await b.submit(page, { email_address: email, password: 'correct horse battery', first_name: 'Grace' })
      assert.equal(started.statusCode, 303)
      const verify = await b.follow(started)
      assert.equal(verify.statusCode, 200)
      assert.match(textOf(verify.body), new RegExp(`We sent a 6-digit code to ${email.replaceAll('.', '\\.')}`))
      const attemptId = formOf(verify.body).fields.sign_up!
      const attempt = (await t.services.accept.findSignUpAttempt(attemptId))!
      const code = t.services.accept.codeFor(attempt)
      const wrong = await b.submit(verify, { code: code === '000000' ? '111111' : '000000' })
      assert.equal(wrong.statusCode, 422)
      assert.match(textOf(wrong.body), /That code is not right/)
      const done = await b.submit(wrong, { code })
      assert.equal(done.statusCode, 303)
      const user = await signedInAs(b)
      assert.deepEqual(user?.email_addresses.map((e) => [e.email_address, e.verification_strategy]), [[email, 'email_code']])
      assert.equal(user?.first_name, 'Grace')
      // The link in the code email names only the attempt; it is done now.
      const again = await browser(t.app).get(`/sign-up/verify?sign_up=${attemptId}`)
      assert.equal(again.statusCode, 410)
    })

    it('acts for the default instance without an `instance` parameter, and 404s for an unknown one', async () => {
      const { instance } = await t.services.instances.bootstrap(null)
      const page = await t.app.inject('/sign-up')
      assert.equal(page.statusCode, 200)
      assert.match(page.body, new RegExp(`<input type="hidden" name="instance" value="${instance.id}">`))
      assert.ok(!formOf(page.body).action.includes('instance='))
      const unknown = await t.app.inject('/sign-up?instance=ins_doesnotexist')
      assert.equal(unknown.statusCode, 404)
      assert.match(textOf(unknown.body), /No application was found/)
    })

    it('restricted mode: a 403 page saying sign-up is by invitation only, for the form and for a post', async () => {
      const { api, instance } = await newApi()
      assert.equal((await api.patch('/v1/instance', { sign_up_mode: 'restricted' })).status, 200)
      const b = browser(t.app)
      const page = await b.get(`/sign-up?instance=${instance.id}`)
      assert.equal(page.statusCode, 403)
      assert.match(textOf(page.body), /Sign-up is by invitation only/)
      const signIn = formOf((await b.get(`/sign-in?instance=${instance.id}`)).body)
      const posted = await b.post('/sign-up', { _csrf: signIn.fields._csrf!, instance: instance.id, email_address: uniqueEmail(), password: 'correct horse battery' })
      assert.equal(posted.statusCode, 403)
      // An invitation still works in restricted mode.
      const inv = await makeInvitation(api)
      assert.equal((await b.submit(await openInvitation(b, inv.url), { password: 'correct horse battery' })).statusCode, 303)
    })

    it('waitlist mode: a page to join the waitlist, and "you\'re on the list"', async () => {
      const { api, instance } = await newApi()
      assert.equal((await api.patch('/v1/instance', { sign_up_mode: 'waitlist' })).status, 200)
      const b = browser(t.app)
      const page = await b.get(`/sign-up?instance=${instance.id}`)
      assert.equal(page.statusCode, 200)
      assert.match(textOf(page.body), /Join the waitlist/)
      assert.equal(formOf(page.body).action, '/waitlist')
      const email = uniqueEmail('Waiting')
      const joined = await b.submit(page, { email_address: email })
      assert.equal(joined.statusCode, 200, joined.body)
      assert.match(textOf(joined.body), /You're on the waitlist/)
      const entries = (await api.get('/v1/waitlist_entries?paginated=true')).body
      assert.deepEqual(entries.data.map((e: { email_address: string }) => e.email_address), [email.toLowerCase()])
    })
  })

  describe('wrong account', () => {
    async function signedUpBrowser(api: Client) {
      const inv = await makeInvitation(api)
      const b = browser(t.app)
      assert.equal((await b.submit(await openInvitation(b, inv.url), { password: 'correct horse battery' })).statusCode, 303)
      return { b, email: inv.email_address as string }
    }

    it('tells someone signed in as A that the invitation is for B, consumes nothing, and signs out and continues', async () => {
      const { api } = await newApi()
      const { b, email: a } = await signedUpBrowser(api)
      const invB = await makeInvitation(api)
      const page = await openInvitation(b, invB.url)
      assert.equal(page.statusCode, 409)
      assert.match(textOf(page.body), new RegExp(`You are signed in as ${a.replaceAll('.', '\\.')}; this invitation is for ${invB.email_address.replaceAll('.', '\\.')}`))
      // Posting the sign-up form with B's ticket while signed in as A changes nothing either.
      const { fields } = formOf(page.body)
      const posted = await b.post('/sign-up', { _csrf: fields._csrf!, __clerk_ticket: new URL(invB.url).searchParams.get('ticket')!, password: 'correct horse battery' })
      assert.equal(posted.statusCode, 409)
      assert.ok((await pendingIds(api)).includes(invB.id))
      assert.equal((await signedInAs(b))?.email_addresses[0]?.email_address, a)

      const signedOut = await b.submit(page)
      assert.equal(signedOut.statusCode, 303)
      const back = await b.follow(signedOut)
      assert.equal(back.statusCode, 200)
      assert.match(back.body, new RegExp(`<dd id="invited-email">${invB.email_address}</dd>`))
      assert.equal(await signedInAs(b), null)
    })

    it('names the other application when the session belongs to another instance', async () => {
      const { api: apiA } = await newApi('App A')
      const { api: apiB } = await newApi('App B')
      const { b } = await signedUpBrowser(apiA)
      const page = await openInvitation(b, (await makeInvitation(apiB)).url)
      assert.equal(page.statusCode, 409)
      assert.match(textOf(page.body), /on App A; this invitation is for/)
    })
  })
})
