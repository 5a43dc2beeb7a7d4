/**
 * The hosted pages in a real browser (Debian's Chromium, driven by playwright-core), against
 * Foyer as a child process whose emails go to a local SMTP sink: the links and codes the
 * tests follow are the ones a person would find in their inbox. Each flow saves a screenshot
 * to docs/screenshots/, which the README shows.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { api, type FoyerProcess } from '../helpers/child-server.js'
import { browserSkip as skip, SCREENSHOTS, useBrowserSuite } from '../helpers/browser-suite.js'
import { startSmtpSink, type ReceivedMail, type SmtpSink } from '../email/smtp-sink.js'

const DAY_MS = 24 * 60 * 60 * 1000
const PASSWORD = 'correct horse battery'

interface Invitation { id: string; email_address: string; url: string }

describe('hosted pages in Chromium', { skip }, () => {
  let sink: SmtpSink
  before(async () => {
    sink = await startSmtpSink()
  })
  after(() => sink?.stop())
  const suite = useBrowserSuite('hosted-pages', () => ({ SMTP_URL: `smtp://127.0.0.1:${sink.port}` }))
  const { secretKey } = suite
  let foyer: FoyerProcess
  const newPage = (viewport = { width: 1024, height: 800 }) => suite.newPage({ viewport })

  before(async () => {
    foyer = suite.foyer
    await api(foyer, secretKey, 'PATCH', '/v1/instance', { application_name: 'Acme Rockets' })
  })

  async function mailTo(address: string, slug: 'invitation' | 'verification_code'): Promise<ReceivedMail> {
    const deadline = Date.now() + 15_000
    for (;;) {
      const found = sink.messages.find((m) => m.envelopeTo.includes(address) && (slug === 'verification_code') === /verification code/.test(m.mail.subject ?? ''))
      if (found) return found
      if (Date.now() > deadline) assert.fail(`no ${slug} email to ${address} within 15 s; got: ${sink.messages.map((m) => `${m.envelopeTo} ${m.mail.subject}`).join(', ')}\n${foyer.output()}`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  const linkIn = (mail: ReceivedMail) => {
    const link = /https?:\/\/\S+\/v1\/tickets\/accept\?ticket=[A-Za-z0-9_-]+/.exec(mail.mail.text ?? '')?.[0]
    assert.ok(link, `no invitation link in:\n${mail.mail.text}`)
    return link
  }

  const invite = (email: string, body: Record<string, unknown> = {}) =>
    api<Invitation>(foyer, secretKey, 'POST', '/v1/invitations', { email_address: email, ...body })

  it('follows the emailed invitation link, signs up, and lands signed in on the welcome page', async () => {
    const email = `ada.${Date.now()}@example.com`
    await invite(email)
    const link = linkIn(await mailTo(email, 'invitation'))

    const page = await newPage()
    const response = await page.goto(link)
    assert.equal(response?.status(), 200)
    assert.equal(new URL(page.url()).pathname, '/sign-up')
    assert.equal(await page.locator('#invited-email').textContent(), email)
    assert.equal(await page.locator('input[name=email_address]').count(), 0, 'the address is not a field')
    assert.equal(await page.locator('input:visible').count(), 3, 'only password and names can be typed')
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'password', 'focus starts on the first field')
    await page.getByLabel('Password').fill(PASSWORD)
    await page.getByLabel('First name').fill('Ada')
    await page.getByLabel('Last name').fill('Lovelace')
    await page.screenshot({ path: join(SCREENSHOTS, 'sign-up.png') })

    await Promise.all([page.waitForURL((url) => url.pathname === '/welcome'), page.getByRole('button', { name: 'Create account' }).click()])
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'You\'re in')
    assert.match(await page.locator('main').innerText(), new RegExp(`Welcome, Ada! You are signed in to Acme Rockets as ${email.replaceAll('.', '\\.')}`))
    const session = (await page.context().cookies()).find((c) => c.name === '__foyer_session')
    assert.ok(session?.httpOnly, 'httpOnly session cookie')
    assert.equal(session.sameSite, 'Lax')
    await page.screenshot({ path: join(SCREENSHOTS, 'welcome.png') })
    await page.context().close()
  })

  it('shows the sign-up page usably on a phone-sized screen', async () => {
    const email = `phone.${Date.now()}@example.com`
    await invite(email)
    const page = await newPage({ width: 390, height: 844 })
    await page.goto(linkIn(await mailTo(email, 'invitation')))
    const width = await page.evaluate(() => document.documentElement.scrollWidth)
    assert.ok(width <= 390, `no horizontal scrolling (content is ${width}px wide)`)
    const button = await page.getByRole('button', { name: 'Create account' }).boundingBox()
    assert.ok(button && button.width >= 300 && button.height >= 40, 'a full-width button big enough to tap')
    await page.screenshot({ path: join(SCREENSHOTS, 'sign-up-phone.png'), fullPage: true })
    await page.context().close()
  })

  it('after expiry, the link leads to plain sign-up: the emailed code is typed in and the person is signed in', async () => {
    const email = `grace.${Date.now()}@example.com`
    await invite(email, { expires_in_days: 1 })
    const link = linkIn(await mailTo(email, 'invitation'))
    await api(foyer, secretKey, 'POST', '/v1/testing/clock', { advance_ms: 2 * DAY_MS })

    const page = await newPage()
    await page.goto(link)
    const landed = new URL(page.url())
    assert.equal(landed.pathname, '/sign-up')
    assert.equal(landed.search, '', 'no ticket once expired')
    await page.getByLabel('Email address').fill(email)
    await page.getByLabel('Password').fill(PASSWORD)
    await Promise.all([page.waitForURL((url) => url.pathname === '/sign-up/verify'), page.getByRole('button', { name: 'Continue' }).click()])

    const codeMail = await mailTo(email, 'verification_code')
    const code = /\b(\d{6})\b/.exec(codeMail.mail.text ?? '')?.[1]
    assert.ok(code, `no code in:\n${codeMail.mail.text}`)
    await page.getByLabel('Verification code').fill(code)
    await page.screenshot({ path: join(SCREENSHOTS, 'sign-up-code.png') })
    await Promise.all([page.waitForURL((url) => url.pathname === '/welcome'), page.getByRole('button', { name: 'Verify and create account' }).click()])
    assert.match(await page.locator('main').innerText(), new RegExp(`signed in to Acme Rockets as ${email.replaceAll('.', '\\.')}`))
    await page.context().close()
  })

  it('in restricted mode, refuses sign-up without an invitation with a page that says so', async () => {
    await api(foyer, secretKey, 'PATCH', '/v1/instance', { sign_up_mode: 'restricted' })
    const page = await newPage()
    const response = await page.goto(`${foyer.baseUrl.replace('127.0.0.1', 'localhost')}/sign-up`)
    assert.equal(response?.status(), 403)
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Sign-up is by invitation only')
    await page.screenshot({ path: join(SCREENSHOTS, 'sign-up-restricted.png') })
    await page.context().close()
  })
})
