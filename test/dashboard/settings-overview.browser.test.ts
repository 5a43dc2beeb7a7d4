/**
 * The Settings and Overview sections in a real browser (Debian's Chromium, driven by
 * playwright-core), against Foyer as a child process: four weeks of invitations made with the
 * test clock, the overview's chart, and a settings change that takes effect (restricted mode
 * refuses a plain sign-up). Screenshots of both pages go to docs/screenshots/.
 */
import { before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { api, type FoyerProcess } from '../helpers/child-server.js'
import { browserSkip as skip, SCREENSHOTS, useBrowserSuite } from '../helpers/browser-suite.js'

const OPERATOR = 'ops@example.com'
const PASSWORD = 'correct horse battery'
const DAY_MS = 24 * 60 * 60 * 1000


interface Invitation { id: string; email_address: string; url: string }

describe('dashboard settings and overview in Chromium', { skip }, () => {
  const suite = useBrowserSuite('settings')
  const { secretKey, newPage } = suite
  let foyer: FoyerProcess

  before(async () => {
    foyer = suite.foyer
    // Four weeks of invitations are more than one hour's default limit of 100.
    await api(foyer, secretKey, 'PATCH', '/v1/instance', { application_name: 'Acme Rockets', rate_limits: { create_invitation: 0 } })
  })

  const invite = (email: string, expiresInDays = 30) =>
    api<Invitation>(foyer, secretKey, 'POST', '/v1/invitations', { email_address: email, notify: false, expires_in_days: expiresInDays })

  async function accept(page: Page, inv: Invitation) {
    await page.goto(inv.url)
    await page.getByLabel('Password').fill(PASSWORD)
    await Promise.all([page.waitForURL((url) => url.pathname === '/welcome'), page.getByRole('button', { name: 'Create account' }).click()])
    await page.context().clearCookies()
  }

  it('four weeks of invitations on the overview chart; settings saved, refused inline, and restricted mode in effect', async () => {
    // Four weeks of activity, one test-clock day at a time: a few invitations a day, some
    // accepted by their person, some revoked, some left to expire after three days.
    const visitor = await newPage()
    let total = 0
    let accepted = 0
    for (let day = 0; day < 28; day++) {
      const made: Invitation[] = []
      const count = 2 + ((day * 7) % 5) + (day > 20 ? 2 : 0)
      for (let i = 0; i < count; i++) made.push(await invite(`person-${day}-${i}@example.com`, i === 0 && day % 3 === 1 ? 3 : 30))
      total += count
      if (day % 2 === 0) {
        await accept(visitor, made[count - 1]!)
        accepted++
      }
      if (day % 4 === 3) await api(foyer, secretKey, 'POST', `/v1/invitations/${made[1]!.id}/revoke`)
      await api(foyer, secretKey, 'POST', '/v1/testing/clock', { advance_ms: DAY_MS })
    }
    await visitor.context().close()

    const setupLink = /setup:\s+(http:\/\/\S+\/dashboard\/setup\?token=\S+)/.exec(foyer.output())?.[1]
    assert.ok(setupLink, `no setup link printed:\n${foyer.output()}`)
    const page = await newPage()
    await page.goto(setupLink)
    await page.getByLabel('Email address').fill(OPERATOR)
    await page.getByLabel('Password').fill(PASSWORD)
    await Promise.all([page.waitForURL(/\/dashboard\/ins_\w+\/\w+$/), page.getByRole('button', { name: 'Create operator' }).click()])

    // Overview: the chart and the same numbers in a table.
    await Promise.all([page.waitForURL(/\/overview$/), page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Overview' }).click()])
    const chart = page.getByRole('img', { name: /Invitations per day/ })
    assert.ok(await chart.isVisible())
    const box = await chart.boundingBox()
    assert.ok(box && box.width > 600 && box.height > 150, `the chart is drawn large enough: ${JSON.stringify(box)}`)
    assert.ok(await page.locator('svg .series-created rect').count() >= 25, 'a bar for each day with invitations created')
    assert.equal(await page.locator('[data-total="created"]').textContent(), String(total))
    assert.equal(await page.locator('[data-total="accepted"]').textContent(), String(accepted))
    assert.match(await page.locator('[data-total="acceptance-rate"]').innerText(), /^\d+(\.\d)?%/)
    assert.equal(await page.locator('#overview-table tbody tr').count(), 30)
    await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-overview.png'), fullPage: true })

    // Settings: a refused URL is explained on the field, and nothing is saved.
    await Promise.all([page.waitForURL(/\/settings$/), page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Settings' }).click()])
    assert.equal(await page.getByLabel(/Application name/).inputValue(), 'Acme Rockets')
    await page.getByLabel(/^Home URL/).fill('https://evil.example.net/')
    await page.getByRole('button', { name: 'Save settings' }).click()
    await page.waitForLoadState()
    assert.match(await page.getByRole('alert').textContent() ?? '', /Home URL must point to an allowed origin/)
    assert.equal(await page.getByLabel(/^Home URL/).getAttribute('aria-invalid'), 'true')

    // Restricted mode, saved in the dashboard, then a plain sign-up is refused.
    const instanceId = /\/dashboard\/(ins_\w+)\//.exec(page.url())![1]!
    const signUp = await page.context().request.get(`${foyer.baseUrl}/sign-up?instance=${instanceId}`)
    assert.equal(signUp.status(), 200)
    await page.getByLabel(/^Home URL/).fill('')
    await page.getByLabel('Sign-up mode').selectOption('restricted')
    await page.getByLabel(/Invitations created/).fill('500')
    await Promise.all([page.waitForURL(/notice=saved/), page.getByRole('button', { name: 'Save settings' }).click()])
    assert.match(await page.getByRole('status').textContent() ?? '', /The settings were saved/)
    assert.equal(await page.getByLabel('Sign-up mode').inputValue(), 'restricted')
    const settings = await api<{ sign_up_mode: string; rate_limits: { create_invitation: number } }>(foyer, secretKey, 'GET', '/v1/instance')
    assert.equal(settings.sign_up_mode, 'restricted')
    assert.equal(settings.rate_limits.create_invitation, 500)
    assert.match(await page.locator('#allowed-origins').innerText(), /FOYER_ALLOWED_REDIRECT_ORIGINS/)
    await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-settings.png'), fullPage: true })

    const refused = await newPage()
    const res = await refused.goto(`${foyer.baseUrl}/sign-up?instance=${instanceId}`)
    assert.equal(res?.status(), 403)
    assert.match(await refused.locator('main').innerText(), /Sign-up is by invitation only/)
    await refused.context().close()
    await page.context().close()
  })

  it('a new instance\'s settings: its own redirect origins take effect, and its key is rolled, revealed and the old one stops', async () => {
    const page = await newPage()
    await page.goto(`${foyer.baseUrl}/dashboard/sign-in`)
    await page.getByLabel('Email address').fill(OPERATOR)
    await page.getByLabel('Password').fill(PASSWORD)
    await Promise.all([page.waitForURL(/\/dashboard\/ins_\w+\/\w+$/), page.getByRole('button', { name: 'Sign in' }).click()])
    await page.getByRole('link', { name: 'New instance' }).click()
    await page.getByLabel('Name').fill('Partner portal')
    await Promise.all([page.waitForURL(/\/dashboard\/instances$/), page.getByRole('button', { name: 'Create instance' }).click()])
    const firstKey = await page.getByLabel('Secret key').inputValue()
    assert.match(firstKey, /^sk_test_\w{40}$/)
    await Promise.all([page.waitForURL(/\/invitations$/), page.getByRole('link', { name: /Go to Partner portal/ }).click()])
    await Promise.all([page.waitForURL(/\/settings$/), page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Settings' }).click()])

    // Its own origins: a path is refused on the field; an origin is saved and allowed at once.
    const invite = (key: string) => api<{ id: string }>(foyer, key, 'POST', '/v1/invitations', { email_address: `partner.${Date.now()}@example.com`, redirect_url: 'https://partner.example.org/welcome', notify: false })
    await assert.rejects(invite(firstKey), /422/)
    const origins = page.getByLabel(/This instance also allows/)
    await origins.fill('https://partner.example.org/welcome')
    await page.getByRole('button', { name: 'Save origins' }).click()
    await page.waitForLoadState()
    assert.match(await page.getByRole('alert').textContent() ?? '', /Allowed redirect origins must be an origin such as/)
    assert.equal(await origins.getAttribute('aria-invalid'), 'true')
    await origins.fill('https://partner.example.org\nhttp://127.0.0.1:*')
    await Promise.all([page.waitForURL(/notice=saved/), page.getByRole('button', { name: 'Save origins' }).click()])
    assert.equal(await page.getByLabel(/This instance also allows/).inputValue(), 'https://partner.example.org\nhttp://127.0.0.1:*')
    assert.match((await invite(firstKey)).id, /^inv_/)

    // Roll the key, stopping the old one now; reveal the new one.
    const keys = page.locator('#api-keys')
    assert.match(await keys.innerText(), new RegExp(`sk_test_…${firstKey.slice(-4)}`))
    await page.getByLabel(/Grace period/).selectOption({ label: 'Stop the old key now' })
    await Promise.all([page.waitForURL(/notice=key-rolled/), page.getByRole('button', { name: 'Roll secret key' }).click()])
    assert.match(await page.getByRole('status').textContent() ?? '', /A new secret key was made/)
    const fresh = keys.locator('tr', { hasText: 'new' })
    await fresh.getByText('Reveal', { exact: true }).click()
    await fresh.getByLabel(/Your password/).fill(PASSWORD)
    await Promise.all([page.waitForLoadState(), fresh.getByRole('button', { name: 'Reveal key' }).click()])
    const secondKey = await keys.locator('input.secret').inputValue()
    assert.match(secondKey, /^sk_test_\w{40}$/)
    assert.notEqual(secondKey, firstKey)
    await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-settings-keys.png'), fullPage: true })
    await assert.rejects(api(foyer, firstKey, 'GET', '/v1/instance'), /401/)
    assert.deepEqual((await api<{ allowed_redirect_origins: string[] }>(foyer, secondKey, 'GET', '/v1/instance')).allowed_redirect_origins, ['https://partner.example.org', 'http://127.0.0.1:*'])
    await page.context().close()
  })
})
