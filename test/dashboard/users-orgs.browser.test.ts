/**
 * The Users and Organizations pages in a real browser (Debian's Chromium, driven by
 * playwright-core), against Foyer as a child process: searching and opening a user, deleting
 * one after confirmation; creating an organization, changing a member's role (and being told
 * inline why the last admin cannot be demoted), inviting with a role, revoking, adding and
 * deleting a domain. Screenshots of both pages go to docs/screenshots/.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import { api, killAllFoyers, randomSecretKey, randomServerSecret, repoRoot, startFoyer, type FoyerProcess } from '../helpers/child-server.js'

const CHROMIUM = '/usr/bin/chromium'
const SCREENSHOTS = join(repoRoot, 'docs', 'screenshots')
const OPERATOR = 'ops@example.com'
const PASSWORD = 'correct horse battery'

const chromiumMissing = !existsSync(CHROMIUM)
const skip = chromiumMissing && !process.env.CI ? `Chromium is not installed at ${CHROMIUM} (apt-get install chromium)` : false

interface User { id: string }
interface Org { id: string; slug: string }

describe('dashboard users and organizations in Chromium', { skip }, () => {
  let foyer: FoyerProcess
  let browser: Browser
  let dataDir: string
  let page: Page
  let base: string
  const secretKey = randomSecretKey()
  const cspViolations: string[] = []
  const call = <T>(method: string, path: string, body?: unknown) => api<T>(foyer, secretKey, method, path, body)

  before(async () => {
    if (chromiumMissing) assert.fail(`Chromium is required for the browser tests but ${CHROMIUM} does not exist: install Debian's package (apt-get install chromium), as .ci/run does.`)
    mkdirSync(SCREENSHOTS, { recursive: true })
    dataDir = mkdtempSync(join(tmpdir(), 'foyer-browser-users-orgs-'))
    ;[foyer, browser] = await Promise.all([
      startFoyer({
        PORT: '0', HOST: '127.0.0.1', FOYER_DATA_DIR: join(dataDir, 'data'), FOYER_SECRET_KEY: secretKey, FOYER_SECRET: randomServerSecret(),
        FOYER_TESTING: '1', LOG_LEVEL: 'warn',
      }, { cwd: dataDir }),
      chromium.launch({ executablePath: CHROMIUM }),
    ])
    await call('PATCH', '/v1/instance', { application_name: 'Acme Rockets' })

    // The first operator, through the setup link printed at start.
    const setupLink = /setup:\s+(http:\/\/\S+\/dashboard\/setup\?token=\S+)/.exec(foyer.output())?.[1]
    assert.ok(setupLink, `no setup link printed:\n${foyer.output()}`)
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
    page = await context.newPage()
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) cspViolations.push(message.text())
    })
    await page.goto(setupLink)
    await page.getByLabel('Email address').fill(OPERATOR)
    await page.getByLabel('Password').fill(PASSWORD)
    await Promise.all([page.waitForURL(/\/dashboard\/ins_\w+\/\w+/), page.getByRole('button', { name: 'Create operator' }).click()])
    base = /^(.*\/dashboard\/ins_\w+)\//.exec(page.url())![1]!
  })

  after(async () => {
    await browser?.close()
    await foyer?.stop().catch(() => killAllFoyers())
    if (dataDir) rmSync(dataDir, { recursive: true, force: true })
    assert.deepEqual(cspViolations, [], 'no Content-Security-Policy violations')
  })

  const row = (text: string) => page.locator('tbody tr', { hasText: text })

  it('users: search, a user\'s verification, metadata and memberships, delete with confirmation', async () => {
    const people: [string, string, string][] = [['grace@example.com', 'Grace', 'Hopper'], ['linus@example.com', 'Linus', 'Torvalds'], ['margaret@example.com', 'Margaret', 'Hamilton']]
    const users: User[] = []
    for (const [email, first, last] of people) {
      users.push(await call<User>('POST', '/v1/users', { email_address: email, first_name: first, last_name: last, public_metadata: { plan: 'pro', seats: 3 } }))
    }
    await call('POST', '/v1/organizations', { name: 'Apollo Guidance', created_by: users[2]!.id })
    await call('POST', '/v1/organizations', { name: 'Compilers Inc', created_by: users[0]!.id })

    await page.getByRole('link', { name: 'Users', exact: true }).click()
    await page.waitForURL(`${base}/users`)
    assert.equal(await page.locator('tbody tr').count(), 3)
    await page.getByRole('searchbox').fill('hamilton')
    await Promise.all([page.waitForURL(/\?q=hamilton/), page.getByRole('button', { name: 'Search' }).click()])
    assert.equal(await page.locator('tbody tr').count(), 1)
    await row('Margaret Hamilton').getByRole('link', { name: 'Margaret Hamilton' }).click()
    await page.waitForURL(`${base}/users/${users[2]!.id}`)
    const main = await page.locator('main').innerText()
    assert.match(main, /margaret@example\.com \(primary\)/)
    assert.match(main, /verified/)
    assert.match(main, /"plan": "pro"/)
    assert.match(main, /Apollo Guidance/)
    await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-users.png'), fullPage: true })

    // The membership leads to the organization's page.
    await page.getByRole('link', { name: 'Apollo Guidance' }).click()
    await page.waitForURL(/\/organizations\/org_\w+$/)
    assert.match(await page.getByRole('heading', { level: 1 }).innerText(), /Apollo Guidance/)

    // Delete asks first; cancelling keeps the user.
    await page.goto(`${base}/users/${users[1]!.id}`)
    await page.getByRole('link', { name: 'Delete user' }).click()
    assert.match(await page.locator('main').innerText(), /Delete the user Linus Torvalds \(linus@example\.com\)\?/)
    await page.getByRole('link', { name: 'Cancel' }).click()
    await page.waitForURL(`${base}/users/${users[1]!.id}`)
    await page.getByRole('link', { name: 'Delete user' }).click()
    await Promise.all([page.waitForURL(/notice=deleted/), page.getByRole('button', { name: 'Delete user' }).click()])
    assert.match(await page.getByRole('status').textContent() ?? '', /The user was deleted/)
    assert.equal(await row('linus@example.com').count(), 0)
    assert.equal((await call<User[]>('GET', '/v1/users?limit=100')).length, 2)
  })

  it('organizations: create, change a role (last admin refused inline), invite with a role, revoke, domains', async () => {
    const ada = await call<User>('POST', '/v1/users', { email_address: 'ada@example.com', first_name: 'Ada', last_name: 'Lovelace' })
    const bob = await call<User>('POST', '/v1/users', { email_address: 'bob@example.com', first_name: 'Bob', last_name: 'Noyce' })

    await page.getByRole('link', { name: 'Organizations', exact: true }).click()
    await page.waitForURL(`${base}/organizations`)
    await page.getByText('Create organization', { exact: true }).first().click()
    await page.getByLabel('Name', { exact: true }).fill('Analytical Engines')
    await page.getByLabel(/^Max members/).fill('10')
    await Promise.all([page.waitForURL(/\/organizations\/org_\w+\?notice=created/), page.getByRole('button', { name: 'Create organization' }).click()])
    const orgUrl = page.url().split('?')[0]!
    const orgId = /org_\w+/.exec(orgUrl)![0]
    assert.match(await page.getByRole('status').textContent() ?? '', /The organization was created/)
    await call('POST', `/v1/organizations/${orgId}/memberships`, { user_id: ada.id, role: 'org:admin' })
    await call('POST', `/v1/organizations/${orgId}/memberships`, { user_id: bob.id, role: 'org:member' })
    await page.goto(orgUrl)

    // Ada is the only admin: demoting her is refused on the page.
    await row('Ada Lovelace').getByRole('combobox').selectOption('org:member')
    await row('Ada Lovelace').getByRole('button', { name: 'Change role' }).click()
    assert.match(await page.locator('#members [role=alert]').innerText(), /keeps at least one member holding org:sys_memberships:manage/)
    // Promote Bob instead.
    await row('Bob Noyce').getByRole('combobox').selectOption('org:admin')
    await Promise.all([page.waitForURL(/notice=role/), row('Bob Noyce').getByRole('button', { name: 'Change role' }).click()])
    assert.match(await row('Bob Noyce').innerText(), /Admin/)

    // Invite with a role, then revoke one.
    for (const email of ['cy@example.com', 'dee@example.com']) {
      await page.getByLabel('Email address').fill(email)
      await page.getByLabel('Role', { exact: true }).selectOption('org:admin')
      await page.getByLabel('Send the invitation email').uncheck()
      await Promise.all([page.waitForURL(/notice=invited/), page.getByRole('button', { name: 'Invite', exact: true }).click()])
    }
    assert.match(await row('cy@example.com').innerText(), /Admin/)
    await Promise.all([page.waitForURL(/notice=revoked/), row('dee@example.com').getByRole('button', { name: 'Revoke' }).click()])
    assert.equal(await row('dee@example.com').count(), 0)

    // Domains: a bad one is refused inline, a good one is added verified.
    await page.getByLabel('Domain', { exact: true }).fill('gmail.com')
    await page.getByRole('button', { name: 'Add domain' }).click()
    assert.match(await page.locator('#domains [role=alert]').innerText(), /shared email provider/)
    await page.getByLabel('Domain', { exact: true }).fill('analytical.example')
    await page.getByLabel('Enrollment mode').selectOption('automatic_invitation')
    await Promise.all([page.waitForURL(/notice=domain_added/), page.getByRole('button', { name: 'Add domain' }).click()])
    assert.match(await row('analytical.example').innerText(), /verified/)
    await call('POST', `/v1/organizations/${orgId}/domains`, { name: 'engines.example' })
    await page.goto(orgUrl)
    await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-organizations.png'), fullPage: true })
    await Promise.all([page.waitForURL(/notice=domain_deleted/), row('engines.example').getByRole('button', { name: 'Delete' }).click()])
    assert.equal(await row('engines.example').count(), 0)

    const members = await call<{ data: { role: string; public_user_data: { identifier: string } }[] }>('GET', `/v1/organizations/${orgId}/memberships`)
    assert.deepEqual(members.data.map((m) => `${m.public_user_data.identifier}=${m.role}`).sort(), ['ada@example.com=org:admin', 'bob@example.com=org:admin'])
  })
})
