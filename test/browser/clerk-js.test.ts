/**
 * Clerk's browser SDK, `@clerk/clerk-js`, against Foyer's Frontend API in a real browser
 * (Debian's Chromium): a custom sign-up flow on a page of the application, from the ticket
 * of an invitation link, as Clerk documents it for invitations. The page is served by the
 * Express application of the @clerk/express tests (test/fixtures/clerk-express-app.mjs),
 * behind its middleware, and loads the SDK's npm bundle from the application's own origin with
 * `data-clerk-proxy-url` set to the instance's Frontend API (`/fapi/<instance id>`). After
 * `setActive` the application's server must know the new user on its next request, and after
 * `signOut` no one. Then organizations through clerk-js 6 (an invitation listed, accepted, made
 * active; the server's orgId and orgRole), and clerk-js 5's prebuilt <SignUp/> (on the page an
 * invitation's link lands on) and <SignIn/>, driven through their own fields and buttons.
 *
 * One Foyer (development key, so pk_test_) and one application, on one engine (see the end).
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import type { BrowserContext, Locator, Page } from 'playwright-core'
import { api } from '../helpers/child-server.js'
import { browserSkip as skip, SCREENSHOTS, useBrowserSuite } from '../helpers/browser-suite.js'
import { createPostgresDatabase, postgresUrl, type Engine } from '../helpers/databases.js'
import { SIGNED_OUT, startClerkApp, type AppAuth, type ClerkApp } from '../helpers/clerk-app.js'
import { startSmtpSink, type SmtpSink } from '../email/smtp-sink.js'

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

interface OrgFlowResult {
  listed: Array<{ organizationId: string; role: string; status: string }>
  accepted: string
  /** What clerk-js knows after setActive: the active organization and the user's memberships. */
  organizationId: string | null
  memberships: Array<{ organizationId: string; role: string }>
  lastActiveOrganizationId: string | null
  invited: { emailAddress: string; role: string; status: string } | null
}

/**
 * Runs in the page, signed in: the person's organization invitations listed, the one into
 * `organizationId` accepted, that organization made active, and from it an invitation sent to `invitee`.
 */
async function organizationInPage({ organizationId, invitee }: { organizationId: string; invitee: string }): Promise<OrgFlowResult> {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const clerk = (window as any).Clerk
  const invitations = await clerk.user.getOrganizationInvitations()
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const listed = invitations.data.map((i: any) => ({ organizationId: i.publicOrganizationData.id, role: i.role, status: i.status }))
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const accepted = await invitations.data.find((i: any) => i.publicOrganizationData.id === organizationId).accept()
  await clerk.setActive({ organization: organizationId })
  const sent = clerk.organization ? await clerk.organization.inviteMember({ emailAddress: invitee, role: 'org:member' }) : null
  return {
    listed,
    accepted: accepted.status,
    organizationId: clerk.organization?.id ?? null,
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    memberships: clerk.user.organizationMemberships.map((m: any) => ({ organizationId: m.organization.id, role: m.role })),
    lastActiveOrganizationId: clerk.session.lastActiveOrganizationId ?? null,
    invited: sent && { emailAddress: sent.emailAddress, role: sent.role, status: sent.status },
  }
}

interface SignedInResult {
  /** The sign-in or sign-up before its last step. */
  waiting: { status: string | null; factors?: string[]; unverifiedFields?: string[] } | null
  status: string | null
  userId: string | null
  sessionId: string | null
}

/** Runs in the page: a password sign-in in one call, or the identifier first and then the password as the first factor. */
async function passwordSignInInPage({ identifier, password, twoSteps }: { identifier: string; password: string; twoSteps: boolean }): Promise<SignedInResult> {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const clerk = (window as any).Clerk
  await clerk.load()
  let waiting: SignedInResult['waiting'] = null
  let signIn
  if (twoSteps) {
    const started = await clerk.client.signIn.create({ identifier })
    waiting = { status: started.status, factors: started.supportedFirstFactors.map((f: { strategy: string }) => f.strategy) }
    signIn = await started.attemptFirstFactor({ strategy: 'password', password })
  } else {
    signIn = await clerk.client.signIn.create({ identifier, password })
  }
  await clerk.setActive({ session: signIn.createdSessionId })
  return { waiting, status: signIn.status, userId: clerk.user?.id ?? null, sessionId: clerk.session?.id ?? null }
}

/** Runs in the page: a sign-up with an address and a password, whose address a code emailed to it verifies (first half). */
async function codeSignUpStartInPage({ emailAddress, password }: { emailAddress: string; password: string }): Promise<SignedInResult['waiting']> {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const clerk = (window as any).Clerk
  await clerk.load()
  const signUp = await clerk.client.signUp.create({ emailAddress, password })
  await signUp.prepareEmailAddressVerification({ strategy: 'email_code' })
  return { status: signUp.status, unverifiedFields: [...signUp.unverifiedFields] }
}

/** Runs in the page: the code typed back, and the session made active (second half). */
async function codeSignUpFinishInPage({ code }: { code: string }): Promise<SignedInResult> {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const clerk = (window as any).Clerk
  const signUp = await clerk.client.signUp.attemptEmailAddressVerification({ code })
  await clerk.setActive({ session: signUp.createdSessionId })
  return { waiting: null, status: signUp.status, userId: clerk.user?.id ?? null, sessionId: clerk.session?.id ?? null }
}

function engineSuite(engine: Engine) {
  describe(`@clerk/clerk-js custom sign-up flow against Foyer's Frontend API, in Chromium [${engine}]`, { skip }, () => {
    let databaseUrl: string | null = null
    let sink: SmtpSink
    const cleanups: Array<() => Promise<void> | void> = []
    before(async () => {
      sink = await startSmtpSink()
      cleanups.push(() => sink.stop())
      if (engine === 'postgres') {
        const created = await createPostgresDatabase()
        cleanups.push(created.drop)
        databaseUrl = created.url
      }
    })

    const suite = useBrowserSuite(`clerk-js-${engine}`, (): Record<string, string> => ({
      SMTP_URL: `smtp://127.0.0.1:${sink.port}`, ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    }))
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
          // No call to …/tokens is needed: the touched Session carries its token (last_active_token).

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

    it('clerk-js 6: after the ticket sign-up, an organization invitation is listed, accepted and its organization made active; the app\'s server sees orgId and orgRole, and the page invites a member', { timeout: 90_000 }, async () => {
      const email = address('org-6')
      const organization = await api<{ id: string; slug: string }>(suite.foyer, suite.secretKey, 'POST', '/v1/organizations', { name: `Orbit ${seq++}` })
      const invitation = await api<{ url: string }>(suite.foyer, suite.secretKey, 'POST', '/v1/invitations', {
        email_address: email, redirect_url: `${app.url}/custom-flow?clerk=6`, notify: false,
      })
      await api(suite.foyer, suite.secretKey, 'POST', `/v1/organizations/${organization.id}/invitations`, { email_address: email, role: 'org:admin', notify: false })
      const { page, log } = await newPage()
      try {
        await page.goto(invitation.url)
        await page.waitForURL((url) => url.origin === app.url && url.pathname === '/custom-flow', { timeout: 15_000 })
        const ticket = new URL(page.url()).searchParams.get('__clerk_ticket')!
        const signedUp = await within(page.evaluate(ticketSignUpInPage, { ticket, password: PASSWORD }), 'the sign-up flow')
        assert.equal(signedUp.done.status, 'complete')
        assert.deepEqual(await appSees(page), { ...SIGNED_OUT, userId: signedUp.userId, sessionId: signedUp.sessionId })

        const invitee = address('org-6-invitee')
        const result = await within(page.evaluate(organizationInPage, { organizationId: organization.id, invitee }), 'the organization flow')
        assert.deepEqual(result.listed, [{ organizationId: organization.id, role: 'org:admin', status: 'pending' }])
        assert.equal(result.accepted, 'accepted')
        assert.equal(result.organizationId, organization.id)
        assert.equal(result.lastActiveOrganizationId, organization.id)
        assert.deepEqual(result.memberships, [{ organizationId: organization.id, role: 'org:admin' }])
        assert.deepEqual(result.invited, { emailAddress: invitee, role: 'org:member', status: 'pending' })
        assert.deepEqual(await appSees(page), {
          userId: signedUp.userId, sessionId: signedUp.sessionId, orgId: organization.id, orgRole: 'org:admin', orgSlug: organization.slug,
        })
        const pending = await api<{ data: Array<{ email_address: string }> }>(suite.foyer, suite.secretKey, 'GET', `/v1/organizations/${organization.id}/invitations?status=pending`)
        assert.deepEqual(pending.data.map((i) => i.email_address), [invitee])
      } catch (err) {
        assert.fail(`${(err as Error).stack}${failure(page, log)}`)
      } finally {
        await page.context().close()
      }
    })

    /** A screenshot of a mounted component for the README, with a margin of the page around it. */
    async function screenshotOf(component: Locator, file: string) {
      const box = await component.boundingBox()
      assert.ok(box, 'the component is on screen')
      const margin = 32
      await component.page().screenshot({
        path: join(SCREENSHOTS, file),
        clip: { x: Math.max(0, box.x - margin), y: Math.max(0, box.y - margin), width: box.width + 2 * margin, height: box.height + 2 * margin },
      })
    }

    // clerk-js 5's bundle carries Clerk's prebuilt components (clerk-js 6 moved them into @clerk/ui).
    it('clerk-js 5 <SignUp/>: the invitation link lands on the app\'s sign-up page, which starts the sign-up from the ticket and asks only for a password; the person types it, is signed in and sent on, and the app\'s server sees the new user', { timeout: 90_000 }, async () => {
      const email = address('sign-up-component')
      const invitation = await api<{ url: string }>(suite.foyer, suite.secretKey, 'POST', '/v1/invitations', {
        email_address: email, redirect_url: `${app.url}/sign-up`, notify: false,
      })
      const { page, log } = await newPage()
      try {
        await page.goto(invitation.url)
        await page.waitForURL((url) => url.origin === app.url && url.pathname === '/sign-up', { timeout: 15_000 })
        const component = page.locator('#clerk-component')
        // The ticket proved the address, so <SignUp/> moves to its step for what is missing: the password.
        await component.getByRole('heading', { name: 'Fill in missing fields' }).waitFor({ timeout: 15_000 })
        const password = component.locator('input[name=password]')
        assert.equal(await password.count(), 1)
        assert.equal(await component.locator('input[name=emailAddress]').count(), 0, 'the invited address is not asked again')
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        const held = await page.evaluate(() => { const s = (window as any).Clerk.client.signUp; return { status: s.status, emailAddress: s.emailAddress, missingFields: [...s.missingFields] } })
        assert.deepEqual(held, { status: 'missing_requirements', emailAddress: email, missingFields: ['password'] })
        await screenshotOf(component, 'clerk-js-sign-up.png')
        assert.deepEqual(await appSees(page), SIGNED_OUT)

        await password.fill(PASSWORD)
        await within(Promise.all([
          page.waitForURL((url) => url.origin === app.url && url.pathname === '/welcome'),
          component.getByRole('button', { name: 'Continue', exact: true }).click(),
        ]), '<SignUp/>\'s Continue')
        const users = await api<Array<{ id: string }>>(suite.foyer, suite.secretKey, 'GET', `/v1/users?email_address=${encodeURIComponent(email)}`)
        assert.equal(users.length, 1)
        assert.equal(await page.locator('#userId').textContent(), users[0]!.id)
        assert.equal((await appSees(page)).userId, users[0]!.id)
      } catch (err) {
        assert.fail(`${(err as Error).stack}${failure(page, log)}`)
      } finally {
        await page.context().close()
      }
    })

    it('clerk-js 5 <SignIn/>: the address, then the password; the app\'s server sees the person, and after signOut no one', { timeout: 90_000 }, async () => {
      const email = address('sign-in-component')
      const user = await api<{ id: string }>(suite.foyer, suite.secretKey, 'POST', '/v1/users', { email_address: [email], password: PASSWORD })
      const { page, log } = await newPage()
      try {
        await page.goto(`${app.url}/sign-in`)
        const component = page.locator('#clerk-component')
        const identifier = component.locator('input[name=identifier]')
        await identifier.waitFor({ timeout: 15_000 })
        await identifier.fill(email)
        await screenshotOf(component, 'clerk-js-sign-in.png')
        await component.getByRole('button', { name: 'Continue', exact: true }).click()
        const password = component.locator('input[name=password]')
        await password.waitFor({ timeout: 15_000 })
        await password.fill(PASSWORD)
        await within(Promise.all([
          page.waitForURL((url) => url.origin === app.url && url.pathname === '/welcome'),
          component.getByRole('button', { name: 'Continue', exact: true }).click(),
        ]), '<SignIn/>\'s Continue')
        assert.equal(await page.locator('#userId').textContent(), user.id)
        const seen = await appSees(page)
        assert.equal(seen.userId, user.id)
        assert.ok(log.some((line) => /^POST .*\/v1\/client\/sign_ins\/sia_\w+\/attempt_first_factor\?/.test(line)), log.join('\n'))

        await page.goto(`${app.url}/custom-flow?clerk=5`)
        await within(Promise.all([
          page.waitForURL((url) => url.origin === app.url && url.pathname === '/welcome'),
          // eslint-disable-next-line @typescript-eslint/no-explicit-any
          page.evaluate(async () => { const clerk = (window as any).Clerk; await clerk.load(); void clerk.signOut({ redirectUrl: '/welcome' }) }),
        ]), 'clerk.signOut()')
        assert.equal(await page.locator('h1').textContent(), 'Signed out')
        assert.deepEqual(await appSees(page), SIGNED_OUT)
        assert.deepEqual(await api<unknown[]>(suite.foyer, suite.secretKey, 'GET', `/v1/sessions?user_id=${user.id}&status=active`), [])
      } catch (err) {
        assert.fail(`${(err as Error).stack}${failure(page, log)}`)
      } finally {
        await page.context().close()
      }
    })

    /** The app's custom-flow page for clerk-js `major`, reached as a browser first does (through the app's handshake). */
    async function openFlowPage(major: string) {
      const opened = await newPage()
      await opened.page.goto(`${app.url}/custom-flow?clerk=${major}`)
      assert.equal(new URL(opened.page.url()).pathname, '/custom-flow')
      return opened
    }

    /** Both the server's answer and clerk-js's own view name the person. */
    async function assertSignedInAs(page: Page, result: SignedInResult, userId: string) {
      assert.equal(result.status, 'complete')
      assert.equal(result.userId, userId)
      assert.match(result.sessionId ?? '', /^sess_/)
      assert.deepEqual(await appSees(page), { ...SIGNED_OUT, userId, sessionId: result.sessionId })
    }

    for (const major of ['6', '5'] as const) {
      it(`clerk-js ${major}: password sign-in, in one call and as identifier then first factor; the app's server sees the person`, { timeout: 90_000 }, async () => {
        const email = address(`sign-in-${major}`)
        const user = await api<{ id: string }>(suite.foyer, suite.secretKey, 'POST', '/v1/users', { email_address: [email], password: PASSWORD })
        for (const twoSteps of [false, true]) {
          const { page, log } = await openFlowPage(major)
          try {
            const result = await within(page.evaluate(passwordSignInInPage, { identifier: email, password: PASSWORD, twoSteps }), 'the sign-in')
            if (twoSteps) assert.deepEqual(result.waiting, { status: 'needs_first_factor', factors: ['password'] })
            await assertSignedInAs(page, result, user.id)
            if (twoSteps) assert.ok(log.some((line) => /^POST .*\/v1\/client\/sign_ins\/sia_\w+\/attempt_first_factor\?/.test(line)), log.join('\n'))
          } catch (err) {
            assert.fail(`${(err as Error).stack}${failure(page, log)}`)
          } finally {
            await page.context().close()
          }
        }
      })

      it(`clerk-js ${major}: sign-up with an address and a password, verified by the emailed code; the app's server sees the new user`, { timeout: 90_000 }, async () => {
        const email = address(`code-${major}`)
        const { page, log } = await openFlowPage(major)
        try {
          const waiting = await within(page.evaluate(codeSignUpStartInPage, { emailAddress: email, password: PASSWORD }), 'the sign-up\'s start')
          assert.deepEqual(waiting, { status: 'missing_requirements', unverifiedFields: ['email_address'] })
          const code = await codeSentTo(email)
          const result = await within(page.evaluate(codeSignUpFinishInPage, { code }), 'the code\'s attempt')
          const users = await api<Array<{ id: string }>>(suite.foyer, suite.secretKey, 'GET', `/v1/users?email_address=${encodeURIComponent(email)}`)
          assert.equal(users.length, 1)
          await assertSignedInAs(page, result, users[0]!.id)
          assert.equal(sink.messages.filter((m) => m.envelopeTo.includes(email)).length, 1, 'one code email: preparing right after the start sends no second one')
        } catch (err) {
          assert.fail(`${(err as Error).stack}${failure(page, log)}`)
        } finally {
          await page.context().close()
        }
      })
    }

    /** The code in the first code email to `email`, as its subject starts with it. */
    async function codeSentTo(email: string): Promise<string> {
      const deadline = Date.now() + 15_000
      for (;;) {
        const mail = sink.messages.find((m) => m.envelopeTo.includes(email) && /^\d{6} /.test(m.mail.subject ?? ''))
        if (mail) return mail.mail.subject!.slice(0, 6)
        if (Date.now() > deadline) assert.fail(`no code email to ${email} within 15 s`)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    }
  })
}

// One engine: PostgreSQL where the run has one, as production would, PGlite otherwise. What
// differs between the engines is covered by the in-process suites, which run on both; this
// file is about the browser and the SDK, and each run of it costs over a minute of Chromium.
engineSuite(postgresUrl ? 'postgres' : 'pglite')
