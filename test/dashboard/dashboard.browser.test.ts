/**
 * The dashboard in a real browser (Debian's Chromium, driven by playwright-core), against Foyer
 * as a child process: from the setup link printed at first start to inviting, revoking,
 * resending and deleting. The invitations page's screenshot goes to docs/screenshots/.
 */
import { before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { api, type FoyerProcess } from '../helpers/child-server.js'
import { browserSkip as skip, SCREENSHOTS, useBrowserSuite } from '../helpers/browser-suite.js'

const OPERATOR = 'ops@example.com'
const PASSWORD = 'correct horse battery'

interface Invitation { id: string; email_address: string; status: string }

describe('dashboard in Chromium', { skip }, () => {
  const suite = useBrowserSuite('dashboard')
  const { secretKey, newPage } = suite
  let foyer: FoyerProcess

  before(async () => {
    foyer = suite.foyer
    await api(foyer, secretKey, 'PATCH', '/v1/instance', { application_name: 'Acme Rockets' })
  })

  const invitations = async (status: string) =>
    api<Invitation[]>(foyer, secretKey, 'GET', `/v1/invitations?status=${status}&limit=100`)
  const row = (page: Page, email: string) => page.locator('tbody tr', { hasText: email })

  it('setup → sign-in → invite two people → revoke one → resend → delete with confirmation', async () => {
    const setupLink = /setup:\s+(http:\/\/\S+\/dashboard\/setup\?token=\S+)/.exec(foyer.output())?.[1]
    assert.ok(setupLink, `no setup link printed:\n${foyer.output()}`)
    // A few invitations made through the API beforehand, so the page shows a realistic list.
    for (const name of ['grace', 'linus', 'margaret']) {
      await api(foyer, secretKey, 'POST', '/v1/invitations', { email_address: `${name}@example.com`, notify: false, public_metadata: { team: 'launch' } })
    }

    const page = await newPage()
    await page.goto(setupLink)
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Create the first operator')
    await page.getByLabel('Email address').fill(OPERATOR)
    await page.getByLabel('Password').fill(PASSWORD)
    await Promise.all([page.waitForURL(/\/dashboard\/ins_\w+\/invitations$/), page.getByRole('button', { name: 'Create operator' }).click()])
    const listUrl = page.url()

    // The link is single-use.
    const again = await page.context().request.get(setupLink)
    assert.equal(again.status(), 404)

    await Promise.all([page.waitForURL(/\/dashboard\/sign-in\?signed_out=1$/), page.getByRole('button', { name: 'Sign out' }).click()])
    await page.goto(listUrl)
    assert.match(page.url(), /\/dashboard\/sign-in\?next=/)
    await page.getByLabel('Email address').fill(OPERATOR)
    await page.getByLabel('Password').fill('not the password')
    await page.getByRole('button', { name: 'Sign in' }).click()
    assert.match(await page.getByRole('alert').textContent() ?? '', /do not match an operator account/)
    await page.getByLabel('Password').fill(PASSWORD)
    await Promise.all([page.waitForURL(listUrl), page.getByRole('button', { name: 'Sign in' }).click()])
    assert.match(await page.getByRole('combobox', { name: 'Instance' }).inputValue(), /^ins_/)

    // Invite two people; the metadata is checked while it is typed.
    await page.getByText('Invite people').click()
    await page.getByLabel('Email addresses').fill('ada@example.com\nalan@example.com')
    const metadata = page.getByLabel('Public metadata')
    await metadata.fill('{"plan": pro}')
    assert.match(await page.locator('#public_metadata-status').textContent() ?? '', /Not valid JSON/)
    assert.equal(await metadata.evaluate((el) => (el as HTMLTextAreaElement).validity.valid), false)
    await metadata.fill('{"plan": "pro"}')
    assert.equal(await page.locator('#public_metadata-status').textContent(), 'Valid JSON object.')
    await Promise.all([page.waitForURL(/notice=invited/), page.getByRole('button', { name: 'Invite', exact: true }).click()])
    assert.match(await page.getByRole('status').textContent() ?? '', /2 invitations were created/)
    const pending = await invitations('pending')
    const ada = pending.find((i) => i.email_address === 'ada@example.com')
    const alan = pending.find((i) => i.email_address === 'alan@example.com')
    assert.ok(ada && alan)

    // Copy link works without script too: the link sits in a readonly input.
    await row(page, 'ada@example.com').getByText('Link', { exact: true }).click()
    assert.match(await row(page, 'ada@example.com').locator('input[readonly]').inputValue(), /\/v1\/tickets\/accept\?ticket=/)

    await Promise.all([page.waitForURL(/notice=revoked/), row(page, 'alan@example.com').getByRole('button', { name: 'Revoke' }).click()])
    assert.equal((await invitations('revoked')).find((i) => i.id === alan.id)?.status, 'revoked')
    assert.equal(await row(page, 'alan@example.com').count(), 0, 'gone from the pending tab')

    await Promise.all([page.waitForURL(/notice=resent/), row(page, 'ada@example.com').getByRole('button', { name: 'Resend' }).click()])
    assert.match(await page.getByRole('status').textContent() ?? '', /queued again/)
    await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-invitations.png'), fullPage: true })

    // The detail page lists both emails sent to Ada.
    await row(page, 'ada@example.com').getByRole('link', { name: 'Details' }).click()
    await page.waitForURL(new RegExp(`/invitations/${ada.id}$`))
    assert.ok(await page.getByRole('heading', { name: 'Email delivery' }).isVisible())

    // Delete asks first; cancelling keeps the invitation.
    await page.goto(listUrl + '?status=revoked')
    await row(page, 'alan@example.com').getByRole('link', { name: 'Delete' }).click()
    assert.match(await page.locator('main').innerText(), /Delete the revoked invitation for alan@example\.com\?/)
    await page.getByRole('link', { name: 'Cancel' }).click()
    assert.equal((await invitations('revoked')).some((i) => i.id === alan.id), true)
    await row(page, 'alan@example.com').getByRole('link', { name: 'Delete' }).click()
    await Promise.all([page.waitForURL(/notice=deleted/), page.getByRole('button', { name: 'Delete invitation' }).click()])
    assert.match(await page.getByRole('status').textContent() ?? '', /was deleted/)
    assert.equal((await invitations('revoked')).some((i) => i.id === alan.id), false)
    await page.context().close()
  })
})
