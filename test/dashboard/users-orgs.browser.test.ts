/**
 * The Users and Organizations pages in a real browser (Debian's Chromium, driven by
 * playwright-core), against Foyer as a child process: searching and opening a user, deleting
 * one after confirmation; creating an organization, changing a member's role (and being told
 * inline why the last admin cannot be demoted), inviting with a role, revoking, adding and
 * deleting a domain. Screenshots of both pages go to docs/screenshots/.
 */
import { before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { api, type FoyerProcess } from '../helpers/child-server.js'
import { browserSkip as skip, SCREENSHOTS, setUpFirstOperator, useBrowserSuite } from '../helpers/browser-suite.js'

const OPERATOR = 'ops@example.com'
const PASSWORD = 'correct horse battery'


interface User { id: string }
interface Org { id: string; slug: string }

describe('dashboard users and organizations in Chromium', { skip }, () => {
  const suite = useBrowserSuite('users-orgs')
  let foyer: FoyerProcess
  let page: Page
  let base: string
  const call = <T>(method: string, path: string, body?: unknown) => api<T>(foyer, suite.secretKey, method, path, body)

  before(async () => {
    foyer = suite.foyer
    await call('PATCH', '/v1/instance', { application_name: 'Acme Rockets' })
    page = await suite.newPage()
    base = await setUpFirstOperator(page, foyer, OPERATOR, PASSWORD)
  })

  const row = (text: string) => page.locator('tbody tr', { hasText: text })

  it('users: search, a user\'s verification, metadata and memberships, delete with confirmation', async () => {
    const people: [string, string, string][] = [['grace@example.com', 'Grace', 'Hopper'], ['linus@example.com', 'Linus', 'Torvalds'], ['margaret@example.com', 'Margaret', 'Hamilton']]
    const users: User[] = []
    for (const [email, first, last] of people) {
      users.push(await call<User>('POST', '/v1/users', { email_address: email, first_name: first, last_name: last, password: PASSWORD, public_metadata: { plan: 'pro', seats: 3 } }))
    }
    // Margaret signs in on two devices; one of them is revoked.
    const signIn = async () => {
      const res = await fetch(`${foyer.baseUrl}/v1/client/sign_ins`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ identifier: 'margaret@example.com', password: PASSWORD }),
      })
      assert.equal(res.status, 200)
      return ((await res.json()) as { response: { created_session_id: string } }).response.created_session_id
    }
    await signIn()
    await call('POST', `/v1/sessions/${await signIn()}/revoke`)
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
    assert.equal(await page.locator('form', { has: page.getByRole('button', { name: 'Revoke' }) }).count(), 1, 'one active session, one revoked')
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
