/**
 * Inviting an operator in a real browser (Debian's Chromium, driven by playwright-core),
 * against Foyer as a child process whose emails go to a local SMTP sink: the owner invites a
 * colleague from the Operators page, and the link in the email the colleague receives lets
 * them choose a password and lands them signed in, with their role.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { browserSkip as skip, setUpFirstOperator, useBrowserSuite } from '../helpers/browser-suite.js'
import { startSmtpSink, type ReceivedMail, type SmtpSink } from '../email/smtp-sink.js'

const OWNER = 'owner@example.com'
const COLLEAGUE = 'colleague@example.com'
const PASSWORD = 'correct horse battery'

describe('inviting an operator in Chromium', { skip }, () => {
  let sink: SmtpSink
  before(async () => {
    sink = await startSmtpSink()
  })
  after(() => sink?.stop())
  const suite = useBrowserSuite('operators', () => ({ SMTP_URL: `smtp://127.0.0.1:${sink.port}` }))

  async function mailTo(address: string): Promise<ReceivedMail> {
    const deadline = Date.now() + 15_000
    for (;;) {
      const found = sink.messages.find((m) => m.envelopeTo.includes(address))
      if (found) return found
      if (Date.now() > deadline) assert.fail(`no email to ${address} within 15 s\n${suite.foyer.output()}`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  it('an owner invites an admin by email; the emailed link sets a password and signs them in, once', async () => {
    const owner = await suite.newPage()
    const base = await setUpFirstOperator(owner, suite.foyer, OWNER, PASSWORD)
    await Promise.all([owner.waitForURL(/\/dashboard\/operators$/), owner.getByRole('link', { name: 'Operators' }).click()])
    assert.equal(await owner.getByRole('heading', { level: 1 }).textContent(), 'Operators')

    await owner.getByText('Invite an operator').click()
    const form = owner.locator('#invite-operator form')
    await form.getByLabel('Email address').fill(COLLEAGUE)
    await form.getByLabel('Role').selectOption('admin')
    await form.getByLabel('Only these:').check()
    await form.getByRole('checkbox').first().check()
    await Promise.all([owner.waitForURL(/notice=invited/), form.getByRole('button', { name: 'Send invitation' }).click()])
    assert.match(await owner.getByRole('status').textContent() ?? '', /The invitation was sent/)
    assert.match(await owner.locator('tr', { hasText: COLLEAGUE }).innerText(), /Admin/)

    const mail = await mailTo(COLLEAGUE)
    assert.match(mail.mail.subject ?? '', /You are invited to operate Foyer/)
    const link = /https?:\/\/\S+\/dashboard\/invitations\/accept\?token=[A-Za-z0-9_-]+/.exec(mail.mail.text ?? '')?.[0]
    assert.ok(link, `no link in:\n${mail.mail.text}`)

    const colleague = await suite.newPage()
    await colleague.goto(link)
    assert.equal(await colleague.getByRole('heading', { level: 1 }).textContent(), 'Join the Foyer dashboard')
    assert.equal(await colleague.getByLabel('Email address').inputValue(), COLLEAGUE)
    await colleague.getByLabel('Password').fill(PASSWORD)
    await Promise.all([colleague.waitForURL(`${base}/invitations`), colleague.getByRole('button', { name: 'Join' }).click()])
    assert.match(await colleague.locator('.who').textContent() ?? '', /colleague@example\.com/)
    // An admin: no Operators page, no new instance.
    assert.equal(await colleague.getByRole('link', { name: 'Operators' }).count(), 0)
    assert.equal(await colleague.getByRole('link', { name: 'New instance' }).count(), 0)

    // The link worked once.
    const again = await colleague.context().request.get(link)
    assert.equal(again.status(), 404)

    // The keys are not offered to an admin; they are to the owner.
    await colleague.goto(`${base}/settings`)
    assert.equal(await colleague.getByRole('button', { name: 'Rotate signing key' }).isVisible(), false)
    await owner.goto(`${base}/settings`)
    assert.equal(await owner.getByRole('button', { name: 'Rotate signing key' }).isVisible(), true)

    // The owner sees them among the operators, and the invitation is no longer pending.
    await owner.goto(`${base.replace(/\/ins_\w+$/, '')}/operators`)
    const row = owner.locator('tr', { hasText: COLLEAGUE }).first()
    assert.match(await row.innerText(), /Admin/)
    assert.match(await owner.locator('main').innerText(), /No pending invitations/)

    // Made a viewer, they read the invitations but are offered no form that changes anything.
    await row.getByText('Change', { exact: true }).click()
    await row.getByLabel('Role').selectOption('viewer')
    await Promise.all([owner.waitForURL(/notice=changed/), row.getByRole('button', { name: 'Save role' }).click()])
    await colleague.goto(`${base}/invitations`)
    assert.equal(await colleague.getByText('You have read-only access.').isVisible(), true)
    assert.equal(await colleague.getByText('Invite people').isVisible(), false)
    await owner.context().close()
    await colleague.context().close()
  })
})
