/**
 * Operator one-time codes in a real browser (Debian's Chromium, driven by playwright-core),
 * against Foyer as a child process: setting them up from the Account page, then signing in
 * with the password and a code computed here as an authenticator app would.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { browserSkip as skip, setUpFirstOperator, useBrowserSuite } from '../helpers/browser-suite.js'
import { totpCode, totpStep } from '../../src/dashboard/totp.js'

const OPERATOR = 'ops@example.com'
const PASSWORD = 'correct horse battery'

describe('operator one-time codes in Chromium', { skip }, () => {
  const suite = useBrowserSuite('operator-security')

  it('sets up one-time codes on the Account page, then signs in with the password and a code', async () => {
    const page = await suite.newPage()
    const base = await setUpFirstOperator(page, suite.foyer, OPERATOR, PASSWORD)
    const listUrl = `${base}/invitations`

    await Promise.all([page.waitForURL(/\/dashboard\/account$/), page.getByRole('link', { name: OPERATOR }).click()])
    assert.match(await page.locator('main').textContent() ?? '', /One-time codes are off/)
    await Promise.all([page.waitForURL(/\/dashboard\/account\/totp$/), page.getByRole('link', { name: 'Set up one-time codes' }).click()])
    await Promise.all([page.waitForURL(/\/dashboard\/account\/totp\/start$/), page.getByRole('button', { name: 'Start' }).click()])
    const secret = (await page.getByLabel('Setup key').inputValue()).replace(/\s/g, '')
    assert.match(await page.getByLabel('Setup link').inputValue(), new RegExp(`^otpauth://totp/Foyer:ops%40example\\.com\\?secret=${secret}&issuer=Foyer`))

    // A wrong code is refused on the same page; the app's current code turns codes on.
    await page.getByLabel('Code').fill('12345')
    await Promise.all([page.waitForURL(/\/totp\/confirm$/), page.getByRole('button', { name: 'Turn on one-time codes' }).click()])
    assert.match(await page.getByRole('alert').textContent() ?? '', /not right/)
    const enrolStep = totpStep(Date.now())
    await page.getByLabel('Code').fill(totpCode(secret, enrolStep))
    await page.getByRole('button', { name: 'Turn on one-time codes' }).click()
    await page.getByRole('heading', { name: 'Recovery codes' }).waitFor()
    const recoveryCodes = (await page.locator('#recovery-codes').textContent() ?? '').split('\n')
    assert.equal(recoveryCodes.length, 10)
    await Promise.all([page.waitForURL(/\/dashboard\/account$/), page.getByRole('link', { name: 'I saved them' }).click()])
    assert.match(await page.locator('main').textContent() ?? '', /One-time codes are on/)

    await Promise.all([page.waitForURL(/\/dashboard\/sign-in\?signed_out=1$/), page.getByRole('button', { name: 'Sign out' }).click()])
    await page.goto(listUrl)
    await page.getByLabel('Email address').fill(OPERATOR)
    await page.getByLabel('Password').fill(PASSWORD)
    await Promise.all([page.waitForURL(/\/dashboard\/sign-in\/code\?next=/), page.getByRole('button', { name: 'Sign in' }).click()])
    // Nothing opens between the password and the code.
    assert.equal((await page.context().request.get(listUrl, { maxRedirects: 0 })).status(), 303)
    // The code used to enrol was used; the next step's code (accepted a step early) signs in.
    await page.getByLabel('Code').fill(totpCode(secret, enrolStep))
    await page.getByRole('button', { name: 'Continue' }).click()
    assert.match(await page.getByRole('alert').textContent() ?? '', /used already/)
    await page.getByLabel('Code').fill(totpCode(secret, Math.max(totpStep(Date.now()), enrolStep + 1)))
    await Promise.all([page.waitForURL(listUrl), page.getByRole('button', { name: 'Continue' }).click()])
    assert.match(await page.getByRole('combobox', { name: 'Instance' }).inputValue(), /^ins_/)
  })
})
