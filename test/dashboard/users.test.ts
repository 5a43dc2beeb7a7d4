import { it } from 'node:test'
import assert from 'node:assert/strict'
import { client } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { browser, textOf } from '../pages/page-client.js'
import { csrfOf, dashboardApp, type Dashboard } from './dashboard-client.js'

const usersOf = (d: Dashboard) => `/dashboard/${d.instanceId}/users`

async function newUser(d: Dashboard, body: Record<string, unknown>, secretKey = d.secretKey): Promise<{ id: string }> {
  const res = await client(d.t.app, secretKey).post('/v1/users', body)
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return res.body
}

const userExists = async (d: Dashboard, id: string) => (await d.t.db.query('select 1 from users where id = $1', [id])).length === 1

forEachDatabase('dashboard users', (engine) => {
  it('lists users newest first, searches by email, name or id, and pages', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const made: { id: string }[] = []
    for (let i = 0; i < 23; i++) {
      made.push(await newUser(d, { email_address: `person${String(i).padStart(2, '0')}@example.com`, first_name: i === 7 ? 'Grace' : null, last_name: i === 7 ? 'Hopper' : null }))
      d.t.clock.advance(1000)
    }
    const list = await d.op.get(usersOf(d))
    assert.equal(list.statusCode, 200, list.body)
    assert.match(list.body, /aria-current="page">Users</)
    assert.match(textOf(list.body), /1–20 of 23/)
    assert.ok(list.body.indexOf('person22@example.com') < list.body.indexOf('person21@example.com'), 'newest first')
    assert.doesNotMatch(list.body, /person02@example\.com/)
    const next = await d.op.get(`${usersOf(d)}?offset=20`)
    assert.match(textOf(next.body), /21–23 of 23/)
    assert.match(next.body, /person00@example\.com/)

    const byEmail = await d.op.get(`${usersOf(d)}?q=person1`)
    assert.match(textOf(byEmail.body), /1–10 of 10/)
    const byName = await d.op.get(`${usersOf(d)}?q=hopper`)
    assert.match(textOf(byName.body), /Grace Hopper/)
    assert.match(textOf(byName.body), /1–1 of 1/)
    const byId = await d.op.get(`${usersOf(d)}?q=${made[3]!.id}`)
    assert.match(byId.body, /person03@example\.com/)
    assert.match(textOf(byId.body), /1–1 of 1/)
    const none = await d.op.get(`${usersOf(d)}?q=nobody-at-all`)
    assert.match(textOf(none.body), /No users match this search/)
  })

  it('shows a user: addresses with their verification, metadata, and organization memberships', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const api = client(d.t.app, d.secretKey)
    const user = await newUser(d, {
      email_address: 'ada@example.com', first_name: 'Ada', last_name: 'Lovelace',
      public_metadata: { plan: 'pro' }, private_metadata: { stripe: 'cus_1' }, unsafe_metadata: { theme: 'dark' },
    })
    const org = (await api.post('/v1/organizations', { name: 'Analytical Engines', created_by: user.id })).body
    assert.ok(org.id, JSON.stringify(org))
    const page = await d.op.get(`${usersOf(d)}/${user.id}`)
    assert.equal(page.statusCode, 200, page.body)
    const text = textOf(page.body)
    assert.match(text, /Ada Lovelace/)
    assert.match(text, /ada@example\.com \(primary\) verified \(admin\)/)
    assert.match(text, /"plan": "pro"/)
    assert.match(text, /"stripe": "cus_1"/)
    assert.match(text, /"theme": "dark"/)
    assert.match(text, /Analytical Engines analytical-engines Admin org:admin/)
    assert.ok(page.body.includes(`href="/dashboard/${d.instanceId}/organizations/${org.id}"`), 'links to the organization')

    // An address not verified yet says so, on the page and in the list.
    await d.t.db.query('update email_addresses set verified_at = null, verification_strategy = null where user_id = $1', [user.id])
    assert.match(textOf((await d.op.get(`${usersOf(d)}/${user.id}`)).body), /ada@example\.com \(primary\) unverified/)
    assert.match(textOf((await d.op.get(usersOf(d))).body), /ada@example\.com unverified/)
    assert.match(textOf((await d.op.get(`${usersOf(d)}/${(await newUser(d, { email_address: 'solo@example.com' })).id}`)).body), /Not a member of any organization/)
  })

  it('deletes a user only after the confirmation page, with their memberships', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const user = await newUser(d, { email_address: 'gone@example.com', first_name: 'Gone' })
    const keep = await newUser(d, { email_address: 'keep@example.com' })
    await client(d.t.app, d.secretKey).post('/v1/organizations', { name: 'Team', created_by: keep.id })
    const org = (await client(d.t.app, d.secretKey).post('/v1/organizations', { name: 'Other team', created_by: user.id })).body
    assert.ok(org.id)

    const detail = await d.op.get(`${usersOf(d)}/${user.id}`)
    assert.ok(detail.body.includes(`href="${usersOf(d)}/${user.id}/delete"`))
    const confirm = await d.op.get(`${usersOf(d)}/${user.id}/delete`)
    assert.equal(confirm.statusCode, 200)
    assert.match(textOf(confirm.body), /Delete the user Gone \(gone@example\.com\)\?.*cannot be undone/)
    assert.ok(await userExists(d, user.id), 'the GET deletes nothing')

    const res = await d.submit(`${usersOf(d)}/${user.id}/delete`, `${usersOf(d)}/${user.id}/delete`)
    assert.equal(res.statusCode, 303, res.body)
    assert.equal(res.headers.location, `${usersOf(d)}?notice=deleted`)
    const list = await d.op.follow(res)
    assert.match(textOf(list.body), /The user was deleted\./)
    assert.doesNotMatch(list.body, /gone@example\.com/)
    assert.match(list.body, /keep@example\.com/)
    assert.equal(await userExists(d, user.id), false)
    assert.equal((await d.t.db.query('select 1 from organization_memberships where user_id = $1', [user.id])).length, 0)
    assert.equal((await d.op.get(`${usersOf(d)}/${user.id}`)).statusCode, 404)
    const again = await d.op.post(`${usersOf(d)}/${user.id}/delete`, { _csrf: csrfOf(list.body) })
    assert.equal(again.statusCode, 404)
  })

  it('refuses the delete without a valid CSRF token with 403, deleting nothing', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const user = await newUser(d, { email_address: 'csrf@example.com' })
    const foreign = csrfOf((await browser(d.t.app).get('/dashboard/sign-in')).body)
    for (const token of [undefined, '', foreign, 'garbage']) {
      const res = await d.op.post(`${usersOf(d)}/${user.id}/delete`, token === undefined ? {} : { _csrf: token })
      assert.equal(res.statusCode, 403, String(token))
      assert.match(res.body, /This form has expired or was not sent from this site/)
    }
    assert.ok(await userExists(d, user.id))
  })

  it('renders hostile names, emails and metadata inert', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const payload = '</pre><script>alert(1)</script><img src=x onerror=alert(2)>'
    const user = await newUser(d, {
      email_address: 'o\'neil&{x}=y@example.com', first_name: '<script>alert(3)</script>', last_name: '"><img src=x onerror=alert(4)>',
      public_metadata: { note: payload, [payload]: 1 }, private_metadata: { p: payload }, unsafe_metadata: { u: payload },
    })
    const pages = [
      await d.op.get(usersOf(d)),
      await d.op.get(`${usersOf(d)}/${user.id}`),
      await d.op.get(`${usersOf(d)}/${user.id}/delete`),
      await d.op.get(`${usersOf(d)}?q=${encodeURIComponent('"><script>alert(5)</script>')}`),
    ]
    for (const page of pages) {
      assert.equal(page.statusCode, 200, page.body)
      assert.doesNotMatch(page.body, /<script>alert|<img src=x/i, page.body)
      assert.equal([...page.body.matchAll(/<script\b/g)].length, 1, 'only the dashboard\'s own script tag')
    }
    assert.match(pages[0]!.body, /o&#39;neil&amp;\{x\}=y@example\.com/)
    assert.match(pages[0]!.body, /&lt;script&gt;alert\(3\)&lt;\/script&gt;/)
    assert.match(pages[1]!.body, /&lt;\/pre&gt;&lt;script&gt;alert\(1\)&lt;\/script&gt;/)
    assert.match(pages[3]!.body, /value="&quot;&gt;&lt;script&gt;alert\(5\)&lt;\/script&gt;"/)
  })

  it('keeps instances apart: another instance\'s user ids are 404, and lists never mix', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const other = await d.t.newInstance('Other')
    const theirs = await newUser(d, { email_address: 'theirs@example.com' }, other.secretKey)
    await newUser(d, { email_address: 'ours@example.com' })
    const list = await d.op.get(usersOf(d))
    assert.match(list.body, /ours@example\.com/)
    assert.doesNotMatch(list.body, /theirs@example\.com/)
    assert.doesNotMatch((await d.op.get(`${usersOf(d)}?q=${theirs.id}`)).body, /theirs@example\.com/)
    assert.equal((await d.op.get(`${usersOf(d)}/${theirs.id}`)).statusCode, 404)
    assert.equal((await d.op.get(`${usersOf(d)}/${theirs.id}/delete`)).statusCode, 404)
    const res = await d.op.post(`${usersOf(d)}/${theirs.id}/delete`, { _csrf: csrfOf(list.body) })
    assert.equal(res.statusCode, 404)
    assert.ok(await userExists(d, theirs.id))
    assert.match((await d.op.get(`/dashboard/${other.instance.id}/users`)).body, /theirs@example\.com/)
  })

  it('sends a visitor without a session to sign-in', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const user = await newUser(d, { email_address: 'private@example.com' })
    const anon = browser(d.t.app)
    for (const path of [usersOf(d), `${usersOf(d)}/${user.id}`]) {
      const res = await anon.get(path)
      assert.equal(res.statusCode, 303)
      assert.match(String(res.headers.location), /^\/dashboard\/sign-in\?next=/)
    }
  })
})
