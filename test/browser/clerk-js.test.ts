/**
 * Clerk's browser SDK, `@clerk/clerk-js`, against Foyer's Frontend API in a real browser
 * (Debian's Chromium): a custom sign-up flow on a page of the application, from the ticket
 * of an invitation link, as Clerk documents it for invitations. The page is served by the
 * Express application of the @clerk/express tests (test/fixtures/clerk-express-app.mjs),
 * behind its middleware, and loads the SDK's npm bundle from the application's own origin with
 * `data-clerk-proxy-url` set to the instance's Frontend API (`/fapi/<instance id>`). After
 * `setActive` the application's server must know the new user on its next request, and after
 * `signOut` no one.
 *
 * One Foyer (development key, so pk_test_) and one application per engine.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { BrowserContext, Page } from 'playwright-core'
import { api } from '../helpers/child-server.js'
import { browserSkip as skip, useBrowserSuite } from '../helpers/browser-suite.js'
import { createPostgresDatabase, postgresUrl, type Engine } from '../helpers/databases.js'
import { SIGNED_OUT, startClerkApp, type AppAuth, type ClerkApp } from '../helpers/clerk-app.js'

const PASSWORD = 'correct horse battery'

interface FlowResult {
  loaded: boolean
  started: { status: string | null; missingFields: string[]; emailAddress: string | null }
  done: { status: string | null; createdUserId: string | null; createdSessionId: string | null }
  /** What clerk-js itself knows after setActive. */
  userId: string | null
  sessionId: string | null
}

/** `work`, or a failure naming `what` after 20 s: a page waiting forever would otherwise only time the test out, without its log. */
async function within<T>(work: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} did not finish within 20 s`)), 20_000) })
  try {
    return await Promise.race([work, late])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Runs in the page: Clerk's documented custom flow for an invitation ticket, the password sent
 * in a second step (as the prebuilt <SignUp/> does), then the session made active.
 */
async function ticketSignUpInPage({ ticket, password }: { ticket: string; password: string }): Promise<FlowResult> {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const clerk = (window as any).Clerk
  await clerk.load()
  const started = await clerk.client.signUp.create({ strategy: 'ticket', ticket })
  const startedFacts = { status: started.status, missingFields: [...started.missingFields], emailAddress: started.emailAddress }
  const done = await started.update({ password })
  await clerk.setActive({ session: done.createdSessionId })
  return {
    loaded: clerk.loaded,
    started: startedFacts,
    done: { status: done.status, createdUserId: done.createdUserId, createdSessionId: done.createdSessionId },
    userId: clerk.user?.id ?? null,
    sessionId: clerk.session?.id ?? null,
  }
}

function engineSuite(engine: Engine) {
  describe(`@clerk/clerk-js custom sign-up flow against Foyer's Frontend API, in Chromium [${engine}]`, { skip }, () => {
    let databaseUrl: string | null = null
    const cleanups: Array<() => Promise<void> | void> = []
    before(async () => {
      if (engine === 'postgres') {
        const created = await createPostgresDatabase()
        cleanups.push(created.drop)
        databaseUrl = created.url
      }
    })

    const suite = useBrowserSuite(`clerk-js-${engine}`, (): Record<string, string> => (databaseUrl ? { DATABASE_URL: databaseUrl } : {}))
    let app: ClerkApp
    let fapiUrl: string
    let seq = 0
    const address = (name: string) => `${name}.${Date.now()}.${seq++}@example.com`

    before(async () => {
      const instance = await api<{ id: string; publishable_key: string }>(suite.foyer, suite.secretKey, 'GET', '/v1/instance')
      assert.match(instance.publishable_key, /^pk_test_/)
      // 127.0.0.1 for both: the page and Foyer are then one site, so clerk-js's credentialed
      // calls carry Foyer's SameSite=Lax cookies (ports do not make another site).
      fapiUrl = `${suite.foyer.baseUrl}/fapi/${instance.id}`
      app = await startClerkApp({ secretKey: suite.secretKey, publishableKey: instance.publishable_key, apiUrl: suite.foyer.baseUrl, proxyUrl: fapiUrl })
      cleanups.push(() => app.stop())
      await api(suite.foyer, suite.secretKey, 'PATCH', '/v1/instance', { allowed_redirect_origins: [app.url] })
    })

    // After the suite's own hooks (the browser and Foyer) have run.
    after(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup()
    })

    const failure = (page: Page, log: string[]) =>
      `\nbrowser:\n${log.join('\n')}\npage at ${page.url()}\nFoyer:\n${suite.foyer.output()}\napp:\n${app.output()}`

    /** A page whose context may reach only this machine (clerk-js's telemetry goes nowhere), logging what it does. */
    async function newPage(): Promise<{ page: Page; log: string[] }> {
      const page = await suite.newPage()
      const log: string[] = []
      const context: BrowserContext = page.context()
      await context.route((url) => url.hostname !== '127.0.0.1' && url.hostname !== 'localhost', (route) => {
        log.push(`aborted ${route.request().url()}`)
        return route.abort()
      })
      page.on('console', (message) => log.push(`console.${message.type()}: ${message.text()}`))
      page.on('pageerror', (err) => log.push(`pageerror: ${err.message}`))
      page.on('request', (request) => log.push(`${request.method()} ${request.url()}`))
      page.on('response', (response) => log.push(`  ${response.status()} ${response.url()}`))
      return { page, log }
    }

    /** What the application's server says of the browser, asked by the page itself (its cookies, a fetch). */
    const appSees = (page: Page) => page.evaluate(async () => (await fetch('/me')).json()) as Promise<AppAuth>

    for (const major of ['6', '5'] as const) {
      it(`clerk-js ${major}: from the invitation link's ticket, signUp.create then update with the password and setActive; the app's server sees the new user, and after signOut no one`, { timeout: 90_000 }, async () => {
        const email = address(`clerk-js-${major}`)
        const invitation = await api<{ url: string }>(suite.foyer, suite.secretKey, 'POST', '/v1/invitations', {
          email_address: email, redirect_url: `${app.url}/custom-flow?clerk=${major}`, notify: false,
        })
        const { page, log } = await newPage()
        try {
          // The link leads to the application's page with the ticket, through the app's handshake.
          await page.goto(invitation.url)
          await page.waitForURL((url) => url.origin === app.url && url.pathname === '/custom-flow', { timeout: 15_000 })
          const ticket = new URL(page.url()).searchParams.get('__clerk_ticket')
          assert.ok(ticket, `no __clerk_ticket in ${page.url()}`)
          assert.equal(new URL(invitation.url).searchParams.get('ticket'), ticket, 'the link\'s own ticket')
          assert.deepEqual(await appSees(page), SIGNED_OUT)

          const result = await within(page.evaluate(ticketSignUpInPage, { ticket, password: PASSWORD }), 'the sign-up flow')
          assert.equal(result.loaded, true)
          assert.deepEqual(result.started, { status: 'missing_requirements', missingFields: ['password'], emailAddress: email })
          assert.equal(result.done.status, 'complete')
          assert.match(result.done.createdUserId ?? '', /^user_/)
          assert.equal(result.userId, result.done.createdUserId)
          assert.equal(result.sessionId, result.done.createdSessionId)

          const users = await api<Array<{ id: string }>>(suite.foyer, suite.secretKey, 'GET', `/v1/users?email_address=${encodeURIComponent(email)}`)
          assert.deepEqual(users.map((u) => u.id), [result.userId])
          // The session token clerk-js wrote on the app's origin: the server knows the person.
          assert.deepEqual(await appSees(page), { ...SIGNED_OUT, userId: result.userId, sessionId: result.sessionId })
          // And a page of the app, opened afresh, says so too.
          await page.goto(`${app.url}/welcome`)
          assert.equal(await page.locator('#userId').textContent(), result.userId)

          const fapiCalls = () => log.filter((line) => line.startsWith(`POST ${fapiUrl}/`) || line.startsWith(`GET ${fapiUrl}/`))
          assert.ok(fapiCalls().some((line) => /\/v1\/client\/sign_ups\/sua_\w+\?.*_method=PATCH/.test(line)), fapiCalls().join('\n'))
          assert.ok(fapiCalls().some((line) => /\/v1\/client\/sessions\/sess_\w+\/touch\?/.test(line)), fapiCalls().join('\n'))
          assert.ok(fapiCalls().some((line) => /\/v1\/client\/sessions\/sess_\w+\/tokens\?/.test(line)), fapiCalls().join('\n'))

          // A later page load finds the person signed in, and signs out.
          await page.goto(`${app.url}/custom-flow?clerk=${major}`)
          const loaded = await within(page.evaluate(async () => {
            // eslint-disable-next-line @typescript-eslint/no-explicit-any
            const clerk = (window as any).Clerk
            await clerk.load()
            return clerk.user?.id ?? null
          }), 'clerk.load()')
          assert.equal(loaded, result.userId)
          // signOut ends by navigating to redirectUrl: the app's page, whose server must see no one.
          await within(Promise.all([
            page.waitForURL((url) => url.origin === app.url && url.pathname === '/welcome'),
            page.evaluate(() => { void (window as any).Clerk.signOut({ redirectUrl: '/welcome' }) }), // eslint-disable-line @typescript-eslint/no-explicit-any
          ]), 'clerk.signOut()')
          assert.ok(fapiCalls().some((line) => /\/v1\/client\/sessions\?.*_method=DELETE/.test(line)), fapiCalls().join('\n'))
          assert.equal(await page.locator('h1').textContent(), 'Signed out')
          assert.deepEqual(await appSees(page), SIGNED_OUT)
          const sessions = await api<unknown[]>(suite.foyer, suite.secretKey, 'GET', `/v1/sessions?user_id=${result.userId}&status=active`)
          assert.deepEqual(sessions, [], 'the session ended on Foyer')
        } catch (err) {
          assert.fail(`${(err as Error).stack}${failure(page, log)}`)
        } finally {
          await page.context().close()
        }
      })
    }
  })
}

engineSuite('pglite')
if (postgresUrl) engineSuite('postgres')
else it('@clerk/clerk-js custom sign-up flow against Foyer\'s Frontend API, in Chromium [postgres]', { skip: 'TEST_DATABASE_URL is not set' }, () => {})
