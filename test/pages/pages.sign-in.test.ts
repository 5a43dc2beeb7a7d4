import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { APP_ORIGIN, buildTestApp, client, uniqueEmail, type Client, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { makeInvitation } from '../helpers/factories.js'
import { SESSION_COOKIE } from '../../src/accept/session-cookie.js'
import type { Instance } from '../../src/instance/instance.schemas.js'
import { browser, formOf, intoApplication, pathOf, textOf, type Browser } from './page-client.js'

const PASSWORD = 'correct horse battery'

forEachDatabase('hosted sign-in and sign-out', (engine) => {
  let t: TestApp
  let api: Client
  let instance: Instance
  before(async () => {
    t = await buildTestApp({ engine })
    const made = await t.newInstance('Acme')
    instance = made.instance
    api = client(t.app, made.secretKey)
  })
  after(() => t.close())

  const signedInAs = async (b: Browser) => (await t.services.accept.session(b.jar.get(SESSION_COOKIE)))?.user.email_addresses[0]?.email_address ?? null
  /** An account made through an invitation; the browser that made it is signed out again. */
  async function account(): Promise<string> {
    const inv = await makeInvitation(api)
    const b = browser(t.app)
    assert.equal((await b.submit(await b.follow(await b.get(inv.url)), { password: PASSWORD })).statusCode, 303)
    return inv.email_address
  }
  const signInPage = (b: Browser, query = '') => b.get(`/sign-in?instance=${instance.id}${query}`)

  describe('POST /sign-in', () => {
    it('signs in with email and password and lands on the welcome page (no home URL set)', async () => {
      const email = await account()
      const b = browser(t.app)
      const res = await b.submit(await signInPage(b), { identifier: email.toUpperCase(), password: PASSWORD })
      assert.equal(res.statusCode, 303)
      assert.equal(pathOf(String(res.headers.location)), `/welcome?instance=${instance.id}`)
      assert.equal(await signedInAs(b), email)
      assert.match(textOf((await b.follow(res)).body), /You're in/)
    })

    it('answers a wrong password and an unknown address with the same generic 422 message', async () => {
      const email = await account()
      const b = browser(t.app)
      const wrong = await b.submit(await signInPage(b), { identifier: email, password: 'not the password' })
      const unknown = await b.submit(await signInPage(b), { identifier: uniqueEmail(), password: PASSWORD })
      for (const res of [wrong, unknown]) {
        assert.equal(res.statusCode, 422)
        assert.match(textOf(res.body), /That email address and password do not match an account\./)
        assert.ok(!/Couldn't find|incorrect/i.test(textOf(res.body)))
      }
      const errorOf = (body: string) => /<div class="error"[\s\S]*?<\/div>/.exec(body)?.[0]
      assert.equal(errorOf(wrong.body), errorOf(unknown.body))
      assert.equal(await signedInAs(b), null)
    })

    it('shows "already accepted — sign in" for __clerk_status=complete', async () => {
      const page = await signInPage(browser(t.app), '&__clerk_status=complete')
      assert.equal(page.statusCode, 200)
      assert.match(textOf(page.body), /This invitation has already been accepted — sign in\./)
    })

    it('accepts an invitation to an existing account when signing in through its link', async () => {
      const email = await account()
      const inv = await makeInvitation(api, { email_address: email, ignore_existing: true })
      const b = browser(t.app)
      const page = await b.follow(await b.get(inv.url))
      assert.equal(page.statusCode, 200)
      assert.match(textOf(page.body), /Sign in to accept your invitation to Acme/)
      const { fields } = formOf(page.body)
      assert.equal(fields.identifier, email)
      assert.ok(fields.__clerk_ticket)
      assert.equal((await b.submit(page, { password: PASSWORD })).statusCode, 303)
      const pending = (await api.get('/v1/invitations?status=pending')).body as { id: string }[]
      assert.ok(!pending.some((i) => i.id === inv.id), 'accepted')
    })

    it('just says so when the person signed in is the one an invitation to an existing account is for', async () => {
      const email = await account()
      const b = browser(t.app)
      assert.equal((await b.submit(await signInPage(b), { identifier: email, password: PASSWORD })).statusCode, 303)
      const inv = await makeInvitation(api, { email_address: email, ignore_existing: true })
      const page = await b.follow(await b.get(inv.url))
      assert.equal(page.statusCode, 200)
      assert.match(textOf(page.body), new RegExp(`You are already signed in You are signed in to Acme as ${email.replaceAll('.', '\\.')}`))
      const pending = (await api.get('/v1/invitations?status=pending')).body as { id: string }[]
      assert.ok(pending.some((i) => i.id === inv.id), 'not consumed')
    })

    it('shows the wrong-account page on the sign-in link too, and refuses the post', async () => {
      const email = await account()
      const b = browser(t.app)
      assert.equal((await b.submit(await signInPage(b), { identifier: email, password: PASSWORD })).statusCode, 303)
      const other = await account()
      const inv = await makeInvitation(api, { email_address: other, ignore_existing: true })
      const page = await b.follow(await b.get(inv.url))
      assert.equal(page.statusCode, 409)
      assert.match(textOf(page.body), /this invitation is for/)
      const ticket = new URL(inv.url).searchParams.get('ticket')!
      const posted = await b.post('/sign-in', { _csrf: formOf(page.body).fields._csrf!, __clerk_ticket: ticket, identifier: other, password: PASSWORD })
      assert.equal(posted.statusCode, 409)
      assert.equal(await signedInAs(b), email)
    })

    it('goes to the instance\'s home URL when it has one', async () => {
      const { instance: other, secretKey } = await t.newInstance('Homed')
      const otherApi = client(t.app, secretKey)
      assert.equal((await otherApi.patch('/v1/instance', { home_url: `${APP_ORIGIN}/home` })).status, 200)
      const inv = await makeInvitation(otherApi)
      const b = browser(t.app)
      await b.submit(await b.follow(await b.get(inv.url)), { password: PASSWORD })
      const fresh = browser(t.app)
      const res = await fresh.submit(await fresh.get(`/sign-in?instance=${other.id}`), { identifier: inv.email_address, password: PASSWORD })
      assert.equal(intoApplication(res.headers.location), `${APP_ORIGIN}/home`)
    })

    it('refuses a post without the CSRF token with a 403 page', async () => {
      const email = await account()
      const b = browser(t.app)
      await signInPage(b)
      const res = await b.post('/sign-in', { instance: instance.id, identifier: email, password: PASSWORD })
      assert.equal(res.statusCode, 403)
      assert.equal(await signedInAs(b), null)
    })

    it('allows 10 attempts per account in 15 minutes, then answers 429 with Retry-After, from any address', async () => {
      const email = await account()
      for (let i = 0; i < 10; i++) {
        const b = browser(t.app, `10.1.0.${i}`)
        assert.equal((await b.submit(await signInPage(b), { identifier: email, password: `wrong ${i}` })).statusCode, 422)
      }
      const b = browser(t.app, '10.1.1.1')
      const limited = await b.submit(await signInPage(b), { identifier: email.toUpperCase(), password: PASSWORD })
      assert.equal(limited.statusCode, 429)
      assert.equal(limited.headers['content-type'], 'text/html; charset=utf-8')
      const retryAfter = Number(limited.headers['retry-after'])
      assert.ok(retryAfter > 0 && retryAfter <= 15 * 60, `Retry-After: ${limited.headers['retry-after']}`)
      assert.match(textOf(limited.body), /too many attempts\. Wait 15 minutes/)
      assert.equal(await signedInAs(b), null)
      // Another account is not affected.
      const other = await account()
      assert.equal((await b.submit(await signInPage(b), { identifier: other, password: PASSWORD })).statusCode, 303)
    })

    it('allows 30 attempts per client address in 15 minutes, whatever the accounts', async () => {
      const b = browser(t.app, '10.2.0.1')
      const page = await signInPage(b)
      for (let i = 0; i < 30; i++) {
        assert.equal((await b.submit(page, { identifier: uniqueEmail(), password: PASSWORD })).statusCode, 422)
      }
      assert.equal((await b.submit(page, { identifier: uniqueEmail(), password: PASSWORD })).statusCode, 429)
    })
  })

  describe('/sign-out', () => {
    async function signedIn(): Promise<{ b: Browser; email: string }> {
      const email = await account()
      const b = browser(t.app)
      assert.equal((await b.submit(await signInPage(b), { identifier: email, password: PASSWORD })).statusCode, 303)
      return { b, email }
    }

    it('GET shows who is signed in and a sign-out form; POST ends the session and clears the cookie', async () => {
      const { b, email } = await signedIn()
      const token = b.jar.get(SESSION_COOKIE)!
      const page = await b.get('/sign-out')
      assert.equal(page.statusCode, 200)
      assert.match(textOf(page.body), new RegExp(`You are signed in as ${email.replaceAll('.', '\\.')}`))
      const res = await b.submit(page)
      assert.equal(res.statusCode, 200)
      assert.match(textOf(res.body), /You are signed out/)
      assert.equal(b.jar.has(SESSION_COOKIE), false, 'cookie cleared')
      assert.equal(await t.services.accept.session(token), null, 'session ended')
    })

    it('returns to a hosted page or invitation link on this origin, and nowhere else', async () => {
      const cases: [string, string | null][] = [
        ['/sign-up?__clerk_ticket=abc', '/sign-up?__clerk_ticket=abc'],
        ['http://foyer.test/v1/tickets/accept?ticket=abc', '/v1/tickets/accept?ticket=abc'],
        ['https://evil.example/sign-in', null],
        ['//evil.example/sign-in', null],
        ['/\\evil.example/sign-in', null],
        ['javascript:alert(1)', null],
        ['/v1/invitations', null],
      ]
      for (const [redirect, expected] of cases) {
        const { b } = await signedIn()
        const page = await b.get(`/sign-out?redirect_url=${encodeURIComponent(redirect)}`)
        const res = await b.submit(page)
        if (expected) {
          assert.equal(res.statusCode, 303, redirect)
          assert.equal(res.headers.location, expected)
        } else {
          assert.equal(res.statusCode, 200, redirect)
          assert.equal(res.headers.location, undefined)
        }
        // A forged redirect_url in the posted form is held to the same rule.
        const again = await b.post('/sign-out', { ...formOf(page.body).fields, redirect_url: redirect })
        assert.equal(again.headers.location, expected ?? undefined, redirect)
      }
    })
  })
})
