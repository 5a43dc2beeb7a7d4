/**
 * Organization invitations in a real browser (Debian's Chromium, driven by playwright-core),
 * against Foyer as a child process whose emails go to a local SMTP sink: each flow starts
 * from the link in the invitation email, as a person would. Screenshots go to docs/screenshots/.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { api, type FoyerProcess } from '../helpers/child-server.js'
import { browserSkip as skip, SCREENSHOTS, useBrowserSuite } from '../helpers/browser-suite.js'
import { startSmtpSink, type ReceivedMail, type SmtpSink } from '../email/smtp-sink.js'

const PASSWORD = 'correct horse battery'

interface User { id: string }
interface Invitation { id: string; email_address: string; status: string }
interface Membership { role: string; organization: { id: string } }

describe('organization invitations in Chromium', { skip }, () => {
  let sink: SmtpSink
  before(async () => {
    sink = await startSmtpSink()
  })
  after(() => sink?.stop())
  const suite = useBrowserSuite('org-accept', () => ({ SMTP_URL: `smtp://127.0.0.1:${sink.port}` }))
  const { secretKey } = suite
  let foyer: FoyerProcess
  let base: string
  let orgId: string
  let admin: User
  let seq = 0
  const address = (name: string) => `${name}.${Date.now()}.${seq++}@example.com`

  before(async () => {
    foyer = suite.foyer
    // The invitation links carry the public URL (localhost); pages are opened there too, so
    // that the session cookie is the one the link's host sees.
    base = foyer.baseUrl.replace('127.0.0.1', 'localhost')
    await api(foyer, secretKey, 'PATCH', '/v1/instance', { application_name: 'Acme Rockets' })
    admin = await makeUser(address('ada'), 'Ada', 'Lovelace')
    orgId = (await api<{ id: string }>(foyer, secretKey, 'POST', '/v1/organizations', { name: 'Launch Team', created_by: admin.id })).id
  })

  const makeUser = (email: string, first: string | null = null, last: string | null = null) =>
    api<User>(foyer, secretKey, 'POST', '/v1/users', { email_address: email, password: PASSWORD, first_name: first, last_name: last })

  /** An organization invitation sent by Ada (the email goes to the sink). */
  const invite = (email: string, body: Record<string, unknown> = {}) =>
    api<Invitation>(foyer, secretKey, 'POST', `/v1/organizations/${orgId}/invitations`, { email_address: email, role: 'org:member', inviter_user_id: admin.id, ...body })
  const invitation = (id: string) => api<Invitation>(foyer, secretKey, 'GET', `/v1/organizations/${orgId}/invitations/${id}`)
  const memberships = async (userId: string) => (await api<{ data: Membership[] }>(foyer, secretKey, 'GET', `/v1/users/${userId}/organization_memberships`)).data

  const newPage = () => suite.newPage({ viewport: { width: 1024, height: 800 } })

  async function linkFor(email: string): Promise<string> {
    const deadline = Date.now() + 15_000
    let mail: ReceivedMail | undefined
    while (!(mail = sink.messages.find((m) => m.envelopeTo.includes(email) && /invited you to join Launch Team/.test(m.mail.subject ?? '')))) {
      if (Date.now() > deadline) assert.fail(`no organization invitation email to ${email} within 15 s\n${foyer.output()}`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    const link = /https?:\/\/\S+\/v1\/tickets\/accept\?ticket=[A-Za-z0-9_-]+/.exec(mail.mail.text ?? '')?.[0]
    assert.ok(link, `no invitation link in:\n${mail.mail.text}`)
    return link
  }

  /** Signs in on the hosted page, landing on the welcome page. */
  async function signIn(page: Page, email: string) {
    await page.goto(`${base}/sign-in`)
    await page.getByLabel('Email address').fill(email)
    await page.getByLabel('Password').fill(PASSWORD)
    await Promise.all([page.waitForURL((url) => url.pathname === '/welcome'), page.getByRole('button', { name: 'Sign in' }).click()])
  }

  const heading = (page: Page) => page.getByRole('heading', { level: 1 }).textContent()

  it('a new person follows the emailed link, signs up, and is a member with the invited role', async () => {
    const email = address('grace')
    const inv = await invite(email, { role: 'org:admin' })
    const page = await newPage()
    await page.goto(await linkFor(email))
    assert.equal(new URL(page.url()).pathname, '/sign-up')
    assert.match(await page.locator('main').innerText(), /You have been invited to join Launch Team on Acme Rockets/)
    assert.equal(await page.locator('#invited-email').textContent(), email)
    await page.getByLabel('Password').fill(PASSWORD)
    await page.getByLabel('First name').fill('Grace')
    await page.screenshot({ path: join(SCREENSHOTS, 'org-sign-up.png') })
    await Promise.all([page.waitForURL((url) => url.pathname === '/welcome'), page.getByRole('button', { name: 'Create account' }).click()])
    assert.equal(await heading(page), 'You\'re in')
    assert.equal((await invitation(inv.id)).status, 'accepted')
    const users = await api<User[]>(foyer, secretKey, 'GET', `/v1/users?email_address=${encodeURIComponent(email)}`)
    const [membership] = await memberships(users[0]!.id)
    assert.equal(membership?.organization.id, orgId)
    assert.equal(membership?.role, 'org:admin')
    await page.context().close()
  })

  it('an existing, signed-out person follows the link, signs in, and is a member', async () => {
    const email = address('linus')
    const user = await makeUser(email, 'Linus')
    const inv = await invite(email)
    const page = await newPage()
    await page.goto(await linkFor(email))
    const landed = new URL(page.url())
    assert.equal(landed.pathname, '/sign-in')
    assert.equal(landed.searchParams.get('__clerk_status'), 'sign_in')
    assert.match(await page.locator('main').innerText(), /Sign in to join Launch Team on Acme Rockets/)
    assert.equal(await page.getByLabel('Email address').inputValue(), email)
    await page.getByLabel('Password').fill(PASSWORD)
    await page.screenshot({ path: join(SCREENSHOTS, 'org-sign-in.png') })
    await Promise.all([page.waitForURL((url) => url.pathname === '/welcome'), page.getByRole('button', { name: 'Sign in' }).click()])
    assert.equal((await invitation(inv.id)).status, 'accepted')
    assert.equal((await memberships(user.id)).length, 1)
    await page.context().close()
  })

  it('a signed-in person follows the link to /accept, sees organization, role and inviter, and accepts', async () => {
    const email = address('margaret')
    const user = await makeUser(email, 'Margaret')
    const inv = await invite(email, { role: 'org:admin' })
    const page = await newPage()
    await signIn(page, email)
    await page.goto(await linkFor(email))
    assert.equal(new URL(page.url()).pathname, '/accept')
    assert.equal(await heading(page), 'Join Launch Team')
    assert.equal(await page.locator('#organization').textContent(), 'Launch Team')
    assert.equal(await page.locator('#role').textContent(), 'Admin')
    assert.match(await page.locator('#inviter').textContent() ?? '', /^Ada Lovelace \(ada\./)
    assert.equal(await page.locator('#signed-in-as').textContent(), email)
    assert.equal(await page.locator('script').count(), 0)
    await page.screenshot({ path: join(SCREENSHOTS, 'accept.png') })
    assert.equal((await invitation(inv.id)).status, 'pending', 'showing the page consumes nothing')
    await Promise.all([page.waitForURL((url) => url.pathname === '/welcome'), page.getByRole('button', { name: 'Accept', exact: true }).click()])
    assert.equal((await invitation(inv.id)).status, 'accepted')
    const [membership] = await memberships(user.id)
    assert.equal(membership?.role, 'org:admin')
    await page.context().close()
  })

  it('someone signed in as another address is told so, signs out, and continues as the invited person', async () => {
    const invited = address('katherine')
    const invitedUser = await makeUser(invited)
    const other = address('mallory')
    const otherUser = await makeUser(other)
    const inv = await invite(invited)
    const page = await newPage()
    await signIn(page, other)
    const response = await page.goto(await linkFor(invited))
    assert.equal(response?.status(), 409)
    assert.equal(await heading(page), 'This invitation is for someone else')
    assert.match(await page.locator('main').innerText(), new RegExp(`signed in as ${other.replaceAll('.', '\\.')}; this invitation is for ${invited.replaceAll('.', '\\.')}`))
    await page.screenshot({ path: join(SCREENSHOTS, 'accept-wrong-account.png') })
    assert.equal((await invitation(inv.id)).status, 'pending')
    assert.deepEqual(await memberships(otherUser.id), [])

    await Promise.all([page.waitForURL((url) => url.pathname === '/sign-in'), page.getByRole('button', { name: 'Sign out and continue' }).click()])
    assert.equal(await page.getByLabel('Email address').inputValue(), invited)
    await page.getByLabel('Password').fill(PASSWORD)
    await Promise.all([page.waitForURL((url) => url.pathname === '/welcome'), page.getByRole('button', { name: 'Sign in' }).click()])
    assert.equal((await memberships(invitedUser.id)).length, 1)
    assert.deepEqual(await memberships(otherUser.id), [])
    await page.context().close()
  })

  it('a signed-in person declines: the invitation is declined, and its link says so', async () => {
    const email = address('ada-declines')
    const user = await makeUser(email)
    const inv = await invite(email)
    const link = await linkFor(email)
    const page = await newPage()
    await signIn(page, email)
    await page.goto(link)
    await page.getByRole('button', { name: 'Decline' }).click()
    await page.waitForLoadState()
    assert.equal(await heading(page), 'Invitation declined')
    assert.match(await page.locator('main').innerText(), /You declined the invitation to join Launch Team/)
    await page.screenshot({ path: join(SCREENSHOTS, 'accept-declined.png') })
    assert.equal((await invitation(inv.id)).status, 'declined')
    assert.deepEqual(await memberships(user.id), [])
    const again = await page.goto(link)
    assert.equal(again?.status(), 410)
    assert.equal(await heading(page), 'This invitation was declined')
    await page.context().close()
  })

  it('lists a signed-in person\'s pending invitations on /accept, each with Accept and Decline', async () => {
    const email = address('hedy')
    const user = await makeUser(email)
    const second = await api<{ id: string }>(foyer, secretKey, 'POST', '/v1/organizations', { name: 'Mission Control', created_by: admin.id })
    await invite(email)
    await api(foyer, secretKey, 'POST', `/v1/organizations/${second.id}/invitations`, { email_address: email, role: 'org:admin', inviter_user_id: admin.id, notify: false })
    const page = await newPage()
    await signIn(page, email)
    await page.goto(`${base}/accept`)
    assert.equal(await heading(page), 'Your invitations')
    assert.equal(await page.locator('.card.invitation').count(), 2)
    await page.screenshot({ path: join(SCREENSHOTS, 'accept-list.png'), fullPage: true })
    const card = page.locator('.card.invitation', { hasText: 'Mission Control' })
    await Promise.all([page.waitForURL((url) => url.pathname === '/welcome'), card.getByRole('button', { name: 'Accept' }).click()])
    const joined = await memberships(user.id)
    assert.deepEqual(joined.map((m) => [m.organization.id, m.role]), [[second.id, 'org:admin']])
    await page.goto(`${base}/accept`)
    assert.equal(await page.locator('.card.invitation').count(), 1)
    await page.context().close()
  })

  it('a person who signs up at a verified domain finds its automatic invitation on /accept, and joins', async () => {
    const domain = `launch${Date.now().toString(36)}.example.com`
    await api(foyer, secretKey, 'POST', `/v1/organizations/${orgId}/domains`, { name: domain, enrollment_mode: 'automatic_invitation' })
    const email = `katherine@${domain}`
    const page = await newPage()
    await page.goto(`${base}/sign-up`)
    await page.getByLabel('Email address').fill(email)
    await page.getByLabel('Password').fill(PASSWORD)
    await Promise.all([page.waitForURL((url) => url.pathname === '/sign-up/verify'), page.getByRole('button', { name: 'Continue' }).click()])
    const deadline = Date.now() + 15_000
    let mail: ReceivedMail | undefined
    while (!(mail = sink.messages.find((m) => m.envelopeTo.includes(email) && /verification code/.test(m.mail.subject ?? '')))) {
      if (Date.now() > deadline) assert.fail(`no verification code to ${email} within 15 s\n${foyer.output()}`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    const code = /\b(\d{6})\b/.exec(mail.mail.text ?? '')?.[1]
    assert.ok(code, `no code in:\n${mail.mail.text}`)
    await page.getByLabel('Verification code').fill(code)
    await Promise.all([page.waitForURL((url) => url.pathname === '/welcome'), page.getByRole('button', { name: 'Verify and create account' }).click()])

    await page.goto(`${base}/accept`)
    assert.equal(await heading(page), 'Your invitations')
    const card = page.locator('.card.invitation', { hasText: 'Launch Team' })
    assert.equal(await card.count(), 1)
    await page.screenshot({ path: join(SCREENSHOTS, 'accept-domain.png'), fullPage: true })
    assert.ok(!sink.messages.some((m) => m.envelopeTo.includes(email) && /invited you/.test(m.mail.subject ?? '')), 'automatic invitations are shown, not emailed')
    await Promise.all([page.waitForURL((url) => url.pathname === '/welcome'), card.getByRole('button', { name: 'Accept' }).click()])
    const users = await api<User[]>(foyer, secretKey, 'GET', `/v1/users?email_address=${encodeURIComponent(email)}`)
    const joined = await memberships(users[0]!.id)
    assert.deepEqual(joined.map((m) => [m.organization.id, m.role]), [[orgId, 'org:member']])
    await page.context().close()
  })

  it('a new person joins through an invitation link: address, emailed code, sign-up, member with the link\'s role', async () => {
    const link = await api<{ id: string; url: string }>(foyer, secretKey, 'POST', '/v1/invitation_links', { organization_id: orgId, role: 'org:admin', max_uses: 10 })
    const email = address('hedy')
    const page = await newPage()
    await page.goto(link.url.replace('127.0.0.1', 'localhost'))
    assert.equal(await heading(page), 'Join Launch Team')
    await page.getByLabel('Email address').fill(email)
    await Promise.all([page.waitForURL((url) => url.pathname === '/join/verify'), page.getByRole('button', { name: 'Send code' }).click()])
    const deadline = Date.now() + 15_000
    let mail: ReceivedMail | undefined
    while (!(mail = sink.messages.find((m) => m.envelopeTo.includes(email) && /verification code/.test(m.mail.subject ?? '')))) {
      if (Date.now() > deadline) assert.fail(`no verification code to ${email} within 15 s\n${foyer.output()}`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    const code = /\b(\d{6})\b/.exec(mail.mail.text ?? '')?.[1]
    assert.ok(code, `no code in:\n${mail.mail.text}`)
    await page.getByLabel('Verification code').fill(code)
    await Promise.all([page.waitForURL((url) => url.pathname === '/sign-up'), page.getByRole('button', { name: 'Continue' }).click()])
    assert.match(await page.locator('main').innerText(), /Launch Team/)
    assert.equal(await page.locator('#invited-email').textContent(), email)
    await page.getByLabel('Password').fill(PASSWORD)
    await Promise.all([page.waitForURL((url) => url.pathname === '/welcome'), page.getByRole('button', { name: 'Create account' }).click()])
    const users = await api<User[]>(foyer, secretKey, 'GET', `/v1/users?email_address=${encodeURIComponent(email)}`)
    assert.deepEqual((await memberships(users[0]!.id)).map((m) => [m.organization.id, m.role]), [[orgId, 'org:admin']])
    const uses = await api<{ email_address: string; user_id: string }[]>(foyer, secretKey, 'GET', `/v1/invitation_links/${link.id}/uses`)
    assert.deepEqual(uses.map((u) => [u.email_address, u.user_id]), [[email, users[0]!.id]])
    await page.context().close()
  })
})
