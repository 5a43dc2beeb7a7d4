/**
 * An Express application on Clerk's own `@clerk/express`, configured only by Clerk's
 * environment variables, and a person who accepts an invitation on Foyer's hosted pages in a
 * real browser (Debian's Chromium): after sign-up Foyer sends them to the application with a
 * handshake nonce, and the application's server knows who they are on its first request.
 * Later, with no session token on the application's side, the SDK sends the browser through
 * Foyer's handshake, which signs it in again, or out once the session has ended.
 *
 * Two Foyers, on one engine (see the end): one whose default instance has an sk_test_ key (pk_test_, Frontend API
 * at the public URL itself) and one with an sk_live_ key (pk_live_, Frontend API reached through
 * `/fapi/<instance id>`). Invitation links come from the emails, caught by a local SMTP sink.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { BrowserContext, Page } from 'playwright-core'
import { api, randomServerSecret, startFoyer, type FoyerProcess } from '../helpers/child-server.js'
import { browserSkip as skip, useBrowserSuite } from '../helpers/browser-suite.js'
import { createPostgresDatabase, postgresUrl, type Engine } from '../helpers/databases.js'
import { SIGNED_OUT, startClerkApp, type AppAuth, type ClerkApp } from '../helpers/clerk-app.js'
import { randomToken } from '../../src/platform/ids.js'
import { SESSION_COOKIE } from '../../src/accept/session-cookie.js'
import { startSmtpSink, type SmtpSink } from '../email/smtp-sink.js'

const PASSWORD = 'correct horse battery'
const TICKET_LINK = /https?:\/\/\S+\/v1\/tickets\/accept\?ticket=[A-Za-z0-9_-]+/

/** One Foyer, its default instance, and the Express application that instance serves. */
interface Side {
  foyer: FoyerProcess
  secretKey: string
  instanceId: string
  publishableKey: string
  /** Where the browser meets Foyer: the public URL (http://localhost:<port>), as in every link. */
  publicUrl: string
  /** The instance's Frontend API base, the app's CLERK_PROXY_URL. */
  fapiUrl: string
  app: ClerkApp
}

interface User { id: string }
interface Session { id: string; status: string }
interface Organization { id: string; slug: string | null }

function engineSuite(engine: Engine) {
  describe(`@clerk/express after an invitation accepted on the hosted pages, in Chromium [${engine}]`, { skip }, () => {
    let sink: SmtpSink
    const databaseUrls: string[] = []
    const cleanups: Array<() => Promise<void> | void> = []
    let liveFoyer: Promise<{ foyer: FoyerProcess; secretKey: string }>
    before(async () => {
      sink = await startSmtpSink()
      if (engine === 'postgres') {
        for (let i = 0; i < 2; i++) {
          const created = await createPostgresDatabase()
          cleanups.push(created.drop)
          databaseUrls.push(created.url)
        }
      }
      // Started now, not awaited: it comes up beside the suite's own Foyer and Chromium.
      liveFoyer = startLiveFoyer()
      liveFoyer.catch(() => {})
    })
    const database = (i: number): Record<string, string> => (databaseUrls[i] ? { DATABASE_URL: databaseUrls[i]! } : {})

    /** A Foyer whose default instance holds an sk_live_ key, so its publishable key is pk_live_. */
    async function startLiveFoyer() {
      const dir = mkdtempSync(join(tmpdir(), `foyer-clerk-express-live-${engine}-`))
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
      const secretKey = `sk_live_${randomToken(40)}`
      const foyer = await startFoyer({
        PORT: '0', HOST: '127.0.0.1', FOYER_DATA_DIR: join(dir, 'data'), FOYER_SECRET_KEY: secretKey, FOYER_SECRET: randomServerSecret(),
        SMTP_URL: `smtp://127.0.0.1:${sink.port}`, LOG_LEVEL: 'warn', ...database(1),
      }, { cwd: dir })
      cleanups.push(async () => { await foyer.stop() })
      return { foyer, secretKey }
    }

    const suite = useBrowserSuite(`clerk-express-${engine}`, () => ({ SMTP_URL: `smtp://127.0.0.1:${sink.port}`, ...database(0) }))
    let dev: Side
    let live: Side
    let seq = 0
    const address = (name: string) => `${name}.${Date.now()}.${seq++}@example.com`

    /** The instance's settings for its application: the app's origin allowed, and its welcome page after sign-up. */
    async function connect(foyer: FoyerProcess, secretKey: string, fapiPath: (instanceId: string) => string): Promise<Side> {
      const instance = await api<{ id: string; publishable_key: string }>(foyer, secretKey, 'GET', '/v1/instance')
      const publicUrl = `http://localhost:${foyer.port}`
      const fapiUrl = publicUrl + fapiPath(instance.id)
      const app = await startClerkApp({ secretKey, publishableKey: instance.publishable_key, apiUrl: foyer.baseUrl, proxyUrl: fapiUrl })
      cleanups.push(() => app.stop())
      await api(foyer, secretKey, 'PATCH', '/v1/instance', { allowed_redirect_origins: [app.url], after_sign_up_url: `${app.url}/welcome` })
      return { foyer, secretKey, instanceId: instance.id, publishableKey: instance.publishable_key, publicUrl, fapiUrl, app }
    }

    before(async () => {
      const started = await liveFoyer
      ;[dev, live] = await Promise.all([
        connect(suite.foyer, suite.secretKey, () => ''),
        connect(started.foyer, started.secretKey, (id) => `/fapi/${id}`),
      ])
      assert.match(dev.publishableKey, /^pk_test_/)
      assert.match(live.publishableKey, /^pk_live_/)
    })

    // After the suite's own hooks (the browser and the first Foyer) have run.
    after(async () => {
      await sink?.stop()
      for (const cleanup of cleanups.reverse()) await cleanup()
    })

    const failure = (side: Side) => `\nFoyer:\n${side.foyer.output()}\napp:\n${side.app.output()}`

    async function linkFor(email: string): Promise<string> {
      const deadline = Date.now() + 15_000
      for (;;) {
        const mail = sink.messages.find((m) => m.envelopeTo.includes(email) && TICKET_LINK.test(m.mail.text ?? ''))
        if (mail) return TICKET_LINK.exec(mail.mail.text!)![0]
        if (Date.now() > deadline) assert.fail(`no invitation email to ${email} within 15 s`)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    }

    const userOf = async (side: Side, email: string) =>
      (await api<User[]>(side.foyer, side.secretKey, 'GET', `/v1/users?email_address=${encodeURIComponent(email)}`))[0]!
    const activeSessions = (side: Side, userId: string) =>
      api<Session[]>(side.foyer, side.secretKey, 'GET', `/v1/sessions?user_id=${userId}&status=active`)

    /** What the app's /welcome page shows of the person. */
    async function shown(page: Page): Promise<AppAuth> {
      const field = async (id: keyof AppAuth) => (await page.locator(`#${id}`).textContent()) || null
      return { userId: await field('userId'), sessionId: await field('sessionId'), orgId: await field('orgId'), orgRole: await field('orgRole'), orgSlug: await field('orgSlug') }
    }

    /** Every URL the page's context requests, in order. */
    function requestLog(context: BrowserContext): string[] {
      const urls: string[] = []
      context.on('request', (request) => { urls.push(request.url()) })
      return urls
    }

    /** Runs `action`, which must end on the app's welcome page; otherwise fails with where the browser stopped. */
    async function landOn(page: Page, side: Side, action: () => Promise<unknown>): Promise<void> {
      try {
        await Promise.all([page.waitForURL((url) => url.origin === side.app.url && url.pathname === '/welcome', { timeout: 15_000 }), action()])
      } catch (err) {
        const text = await page.locator('body').innerText().catch(() => '')
        assert.fail(`the browser stopped at ${page.url()} instead of the app's welcome page (${(err as Error).message.split('\n')[0]}):\n${text.slice(0, 500)}${failure(side)}`)
      }
    }

    /**
     * Follows the emailed link, signs up on the hosted page, and lands on the app's welcome
     * page. The app's first request carries Foyer's handshake nonce; the browser never has to
     * go back to Foyer's handshake for it.
     */
    async function signUpFromEmail(side: Side, page: Page, email: string): Promise<{ userId: string; sessionId: string }> {
      const urls = requestLog(page.context())
      const response = await page.goto(await linkFor(email))
      assert.equal(response?.status(), 200)
      assert.equal(new URL(page.url()).pathname, '/sign-up')
      await page.getByLabel('Password').fill(PASSWORD)
      await landOn(page, side, () => page.getByRole('button', { name: 'Create account' }).click())
      const first = urls.find((url) => url.startsWith(side.app.url))
      assert.ok(first && new URL(first).searchParams.get('__clerk_handshake_nonce'), `the app was first opened at ${first}, with no handshake nonce`)
      assert.deepEqual(urls.filter((url) => url.includes('/v1/client/handshake')), [], 'no detour through the handshake')

      const user = await userOf(side, email)
      const sessions = await activeSessions(side, user.id)
      assert.equal(sessions.length, 1)
      return { userId: user.id, sessionId: sessions[0]!.id }
    }

    /** Drops the app's session token from the browser, as its 60 s expiry would: the next page view must handshake. */
    const dropSessionToken = (context: BrowserContext) => context.clearCookies({ name: /^__session/ })

    /** Opens the app's welcome page again; answers what it shows and whether the browser went through Foyer's handshake. */
    async function revisit(side: Side, page: Page): Promise<{ auth: AppAuth; handshook: boolean }> {
      const urls = requestLog(page.context())
      await landOn(page, side, () => page.goto(`${side.app.url}/welcome`))
      return { auth: await shown(page), handshook: urls.some((url) => url.startsWith(`${side.fapiUrl}/v1/client/handshake?`)) }
    }

    for (const which of ['pk_test_', 'pk_live_'] as const) {
      // @see issue 13
      it(`with a ${which} key, the emailed link leads through sign-up to the app's welcome page, which shows the new user`, async () => {
        const side = which === 'pk_test_' ? dev : live
        const email = address('ada')
        await api(side.foyer, side.secretKey, 'POST', '/v1/invitations', { email_address: email })
        const page = await suite.newPage()
        const { userId, sessionId } = await signUpFromEmail(side, page, email)
        assert.deepEqual(await shown(page), { ...SIGNED_OUT, userId, sessionId }, failure(side))
        assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Signed in')

        // The cookies the handshake left on the app's origin keep the person signed in.
        const me = await page.context().request.get(`${side.app.url}/me`, { maxRedirects: 0 })
        assert.deepEqual(await me.json(), { ...SIGNED_OUT, userId, sessionId })
        await page.context().close()
      })
    }

    // @see issue 13
    it('an organization invitation accepted by sign-up makes the organization active: the app sees orgId and the invited role', async () => {
      const org = await api<Organization>(dev.foyer, dev.secretKey, 'POST', '/v1/organizations', { name: 'Launch Team' })
      for (const role of ['org:admin', 'org:member']) {
        const email = address(role.replace(':', '-'))
        await api(dev.foyer, dev.secretKey, 'POST', `/v1/organizations/${org.id}/invitations`, { email_address: email, role })
        const page = await suite.newPage()
        const { userId, sessionId } = await signUpFromEmail(dev, page, email)
        assert.deepEqual(await shown(page), { userId, sessionId, orgId: org.id, orgRole: role, orgSlug: org.slug }, failure(dev))
        await page.context().close()
      }
    })

    // @see issue 13
    it('a session revoked through the Backend API is signed out on the app at its next handshake', async () => {
      const email = address('grace')
      await api(dev.foyer, dev.secretKey, 'POST', '/v1/invitations', { email_address: email })
      const page = await suite.newPage()
      const { userId, sessionId } = await signUpFromEmail(dev, page, email)

      // Without its token the app handshakes, and Foyer signs the browser in again from its own cookie.
      await dropSessionToken(page.context())
      assert.deepEqual(await revisit(dev, page), { auth: { ...SIGNED_OUT, userId, sessionId }, handshook: true })

      await api(dev.foyer, dev.secretKey, 'POST', `/v1/sessions/${sessionId}/revoke`)
      await dropSessionToken(page.context())
      assert.deepEqual(await revisit(dev, page), { auth: SIGNED_OUT, handshook: true })
      assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Signed out')
      await page.context().close()
    })

    // @see issue 13
    it('after signing out on Foyer\'s page, a pk_live_ app is signed out at its next handshake', async () => {
      const email = address('hedy')
      await api(live.foyer, live.secretKey, 'POST', '/v1/invitations', { email_address: email })
      const page = await suite.newPage()
      const { userId, sessionId } = await signUpFromEmail(live, page, email)
      await dropSessionToken(page.context())
      assert.deepEqual(await revisit(live, page), { auth: { ...SIGNED_OUT, userId, sessionId }, handshook: true })

      await page.goto(`${live.publicUrl}/sign-out`)
      await page.getByRole('button', { name: 'Sign out' }).click()
      await page.getByRole('heading', { name: 'You are signed out' }).waitFor()
      assert.deepEqual(await activeSessions(live, userId), [])
      await dropSessionToken(page.context())
      assert.deepEqual(await revisit(live, page), { auth: SIGNED_OUT, handshook: true })
      await page.context().close()
    })

    // @see issue 13
    it('GET /v1/client/handshake answers a redirect_url on an origin the instance does not allow with a 4xx page, never a redirect, even signed in', async () => {
      const email = address('mallory')
      const invitation = await api<{ url: string }>(dev.foyer, dev.secretKey, 'POST', '/v1/invitations', { email_address: email, notify: false })
      const ticket = new URL(invitation.url).searchParams.get('ticket')!
      const signUp = await fetch(`${dev.foyer.baseUrl}/v1/client/sign_ups`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ strategy: 'ticket', ticket, password: PASSWORD }),
      })
      assert.equal(signUp.status, 200, await signUp.clone().text())
      const cookie = signUp.headers.getSetCookie().map((line) => line.split(';')[0]!).find((pair) => pair.startsWith(`${SESSION_COOKIE}=`))
      assert.ok(cookie, 'the sign-up set the session cookie')

      // As the SDK builds the URL (format=nonce), with Foyer's cookie: a real redirect would hand over a session.
      const handshake = (redirectUrl: string) => fetch(`${dev.foyer.baseUrl}/v1/client/handshake?${new URLSearchParams({
        redirect_url: redirectUrl, __clerk_api_version: '2026-05-12', suffixed_cookies: 'false', __clerk_hs_reason: 'dev-browser-missing', format: 'nonce',
      })}`, { redirect: 'manual', headers: { cookie, accept: 'text/html', 'sec-fetch-dest': 'document' } })

      const allowed = await handshake(`${dev.app.url}/welcome`)
      assert.ok(allowed.status >= 300 && allowed.status < 400, `an allowed origin is redirected to: ${allowed.status} ${await allowed.text()}`)
      assert.ok(allowed.headers.get('location')?.startsWith(`${dev.app.url}/welcome?`), `location ${allowed.headers.get('location')}`)

      const appPort = Number(new URL(dev.app.url).port)
      for (const foreign of ['https://evil.example.com/welcome', `http://127.0.0.1:${appPort === 65535 ? 65534 : appPort + 1}/welcome`, 'javascript:alert(1)']) {
        const res = await handshake(foreign)
        const body = await res.text()
        assert.ok(res.status >= 400 && res.status < 500, `${foreign}: ${res.status} ${body}`)
        assert.equal(res.headers.get('location'), null, foreign)
        assert.match(String(res.headers.get('content-type')), /^text\/html/, foreign)
        assert.doesNotMatch(body, /__clerk_handshake/, foreign)
      }
    })
  })
}

// One engine: PostgreSQL where the run has one, as production would, PGlite otherwise. What
// differs between the engines is covered by the in-process suites, which run on both; this
// file is about the browser and the SDK, and each run of it costs over a minute of Chromium.
engineSuite(postgresUrl ? 'postgres' : 'pglite')
