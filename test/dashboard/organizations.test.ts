import { it } from 'node:test'
import assert from 'node:assert/strict'
import { client } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { browser, textOf } from '../pages/page-client.js'
import { csrfOf, dashboardApp, type Dashboard } from './dashboard-client.js'

const orgsOf = (d: Dashboard) => `/dashboard/${d.instanceId}/organizations`

async function newUser(d: Dashboard, email: string, extra: Record<string, unknown> = {}, secretKey = d.secretKey): Promise<{ id: string }> {
  const res = await client(d.t.app, secretKey).post('/v1/users', { email_address: email, ...extra })
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return res.body
}

async function newOrg(d: Dashboard, body: Record<string, unknown>, secretKey = d.secretKey): Promise<{ id: string; slug: string }> {
  const res = await client(d.t.app, secretKey).post('/v1/organizations', body)
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return res.body
}

async function addMember(d: Dashboard, orgId: string, userId: string, role: string, secretKey = d.secretKey) {
  const res = await client(d.t.app, secretKey).post(`/v1/organizations/${orgId}/memberships`, { user_id: userId, role })
  assert.equal(res.status, 200, JSON.stringify(res.body))
}

const roleOf = async (d: Dashboard, orgId: string, userId: string) =>
  (await d.t.db.query<{ role: string }>('select role from organization_memberships where organization_id = $1 and user_id = $2', [orgId, userId]))[0]?.role ?? 'none'

forEachDatabase('dashboard organizations', (engine) => {
  it('creates an organization with a name, optional slug and max members, lists and searches', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const empty = await d.op.get(orgsOf(d))
    assert.equal(empty.statusCode, 200, empty.body)
    assert.match(empty.body, /aria-current="page">Organizations</)
    assert.match(textOf(empty.body), /No organizations yet/)

    const res = await d.submit(orgsOf(d), orgsOf(d), { name: 'Acme Rockets', slug: 'acme', max_allowed_memberships: '5' })
    assert.equal(res.statusCode, 303, res.body)
    const [row] = await d.t.db.query<{ id: string; name: string; slug: string; max_allowed_memberships: number }>('select * from organizations')
    assert.deepEqual([row!.name, row!.slug, Number(row!.max_allowed_memberships)], ['Acme Rockets', 'acme', 5])
    assert.equal(res.headers.location, `${orgsOf(d)}/${row!.id}?notice=created`)
    const detail = await d.op.follow(res)
    assert.match(textOf(detail.body), /The organization was created\./)
    assert.match(textOf(detail.body), /0 of at most 5/)

    // No slug: one is made from the name; no max: no limit.
    assert.equal((await d.submit(orgsOf(d), orgsOf(d), { name: 'Café Society' })).statusCode, 303)
    const list = await d.op.get(orgsOf(d))
    assert.match(textOf(list.body), /Café Society org_\w+ cafe-society 0 0 no limit/)
    assert.match(textOf(list.body), /1–2 of 2/)
    const search = await d.op.get(`${orgsOf(d)}?q=rocket`)
    assert.match(search.body, /Acme Rockets/)
    assert.doesNotMatch(search.body, /Café Society/)
  })

  it('refuses a bad organization inline with what was typed, creating nothing', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    await newOrg(d, { name: 'Taken', slug: 'taken' })
    const cases: [Record<string, string>, number, RegExp][] = [
      [{ name: '   ' }, 422, /name must not be blank/],
      [{ name: 'Visit https://evil.example' }, 422, /may not contain URLs or HTML/],
      [{ name: 'Fine', slug: 'Not A Slug' }, 422, /slug may contain only lower-case letters/],
      [{ name: 'Fine', slug: 'taken' }, 422, /slug taken already exists/],
      [{ name: 'Fine', max_allowed_memberships: '-3' }, 422, /Max members must be a whole number/],
    ]
    for (const [fields, status, message] of cases) {
      const res = await d.submit(orgsOf(d), orgsOf(d), fields)
      assert.equal(res.statusCode, status, JSON.stringify(fields))
      assert.match(textOf(res.body), message)
      assert.match(res.body, /<details class="card" id="create-organization" open>/)
      if (fields.slug) assert.ok(res.body.includes(`value="${fields.slug}"`), 'the slug typed is kept')
    }
    assert.equal((await d.t.db.query('select 1 from organizations')).length, 1)
  })

  it('changes a member\'s role and removes members; the last-admin rule shows inline', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const ada = await newUser(d, 'ada@example.com', { first_name: 'Ada', last_name: 'Lovelace' })
    const bob = await newUser(d, 'bob@example.com')
    const org = await newOrg(d, { name: 'Engines', created_by: ada.id })
    await addMember(d, org.id, bob.id, 'org:member')
    const page = `${orgsOf(d)}/${org.id}`
    const detail = await d.op.get(page)
    assert.equal(detail.statusCode, 200, detail.body)
    assert.match(textOf(detail.body), /Ada Lovelace ada@example\.com Admin/)
    assert.match(detail.body, /<option value="org:member" selected>Member \(org:member\)<\/option>/)
    assert.ok(detail.body.includes(`href="/dashboard/${d.instanceId}/users/${ada.id}"`), 'links to the user')

    // Ada is the only admin: demoting or removing her is refused on the page, not with an error page.
    const demote = await d.submit(page, `${page}/members/${ada.id}/role`, { role: 'org:member' })
    assert.equal(demote.statusCode, 422, demote.body)
    assert.match(textOf(demote.body), /keeps at least one member holding org:sys_memberships:manage/)
    assert.match(demote.body, /<div class="card" id="members">\s*<h2>Members<\/h2>\s*<div class="error" role="alert"/)
    const remove = await d.submit(page, `${page}/members/${ada.id}/remove`)
    assert.equal(remove.statusCode, 422)
    assert.match(textOf(remove.body), /keeps at least one member/)
    assert.equal(await roleOf(d, org.id, ada.id), 'org:admin')
    const unknownRole = await d.submit(page, `${page}/members/${bob.id}/role`, { role: 'org:nope' })
    assert.equal(unknownRole.statusCode, 422)
    assert.match(textOf(unknownRole.body), /org:nope is not one/)

    // Promote Bob; then Ada can step down and be removed.
    const promote = await d.submit(page, `${page}/members/${bob.id}/role`, { role: 'org:admin' })
    assert.equal(promote.statusCode, 303, promote.body)
    assert.match(textOf((await d.op.follow(promote)).body), /The member's role was changed\./)
    assert.equal(await roleOf(d, org.id, bob.id), 'org:admin')
    assert.equal((await d.submit(page, `${page}/members/${ada.id}/role`, { role: 'org:member' })).statusCode, 303)
    assert.equal(await roleOf(d, org.id, ada.id), 'org:member')
    const removed = await d.submit(page, `${page}/members/${ada.id}/remove`)
    assert.equal(removed.statusCode, 303)
    const after = await d.op.follow(removed)
    assert.match(textOf(after.body), /The member was removed from the organization\./)
    assert.doesNotMatch(after.body, /ada@example\.com/)
    assert.equal(await roleOf(d, org.id, ada.id), 'none')
    // A user who is not a member is not found.
    assert.equal((await d.op.post(`${page}/members/${ada.id}/remove`, { _csrf: csrfOf(after.body) })).statusCode, 404)
  })

  it('invites with a role and revokes; refusals (bad address, duplicate, full) show inline', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const org = await newOrg(d, { name: 'Small', max_allowed_memberships: 2 })
    const page = `${orgsOf(d)}/${org.id}`
    const invited = await d.submit(page, `${page}/invitations`, { email_address: 'Cy@Example.com', role: 'org:admin', notify: '' })
    assert.equal(invited.statusCode, 303, invited.body)
    const list = await d.op.follow(invited)
    assert.match(textOf(list.body), /The invitation was created\./)
    assert.match(textOf(list.body), /cy@example\.com orginv_\w+ Admin/)
    const [inv] = await d.t.db.query<{ id: string; role: string; status: string; notify: boolean }>('select * from organization_invitations')
    assert.deepEqual([inv!.role, inv!.status, inv!.notify], ['org:admin', 'pending', false])

    const cases: [Record<string, string>, number, RegExp][] = [
      [{ email_address: 'not-an-address', role: 'org:member' }, 422, /email_address/],
      [{ email_address: 'cy@example.com', role: 'org:member' }, 400, /cy@example\.com already has one/],
      [{ email_address: 'dee@example.com', role: 'org:ghost' }, 404, /Organization role org:ghost not found/],
    ]
    for (const [fields, status, message] of cases) {
      const res = await d.submit(page, `${page}/invitations`, fields)
      assert.equal(res.statusCode, status, JSON.stringify(fields))
      assert.match(textOf(res.body), message)
      assert.ok(res.body.includes(`value="${fields.email_address}"`), 'the address typed is kept')
    }
    assert.equal((await d.submit(page, `${page}/invitations`, { email_address: 'dee@example.com', role: 'org:member' })).statusCode, 303)
    const full = await d.submit(page, `${page}/invitations`, { email_address: 'eve@example.com', role: 'org:member' })
    assert.equal(full.statusCode, 403)
    assert.match(textOf(full.body), /limit of 2 organization memberships/)

    const revoked = await d.submit(page, `${page}/invitations/${inv!.id}/revoke`)
    assert.equal(revoked.statusCode, 303, revoked.body)
    const after = await d.op.follow(revoked)
    assert.match(textOf(after.body), /The invitation was revoked/)
    assert.doesNotMatch(after.body, /cy@example\.com/)
    assert.equal((await d.t.db.query<{ status: string }>('select status from organization_invitations where id = $1', [inv!.id]))[0]!.status, 'revoked')
  })

  it('adds verified domains and deletes them; bad names show inline', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const org = await newOrg(d, { name: 'Domains' })
    const page = `${orgsOf(d)}/${org.id}`
    const added = await d.submit(page, `${page}/domains`, { name: 'Example.COM', enrollment_mode: 'automatic_invitation' })
    assert.equal(added.statusCode, 303, added.body)
    const list = await d.op.follow(added)
    assert.match(textOf(list.body), /The domain was added\./)
    assert.match(textOf(list.body), /example\.com verified \(admin\) automatic invitation/)
    const [domain] = await d.t.db.query<{ id: string }>('select id from organization_domains')
    for (const [fields, message] of [
      [{ name: 'not a domain' }, /must be a domain name/],
      [{ name: 'gmail.com' }, /gmail\.com is a shared email provider/],
      [{ name: 'ok.example', enrollment_mode: 'enterprise_sso' }, /enrollment_mode must be one of/],
    ] as [Record<string, string>, RegExp][]) {
      const res = await d.submit(page, `${page}/domains`, fields)
      assert.equal(res.statusCode, 422, JSON.stringify(fields))
      assert.match(textOf(res.body), message)
      assert.ok(res.body.includes(`value="${fields.name}"`))
    }
    // A domain another organization verified already is refused too.
    const other = await newOrg(d, { name: 'Rival' })
    const taken = await d.submit(`${orgsOf(d)}/${other.id}`, `${orgsOf(d)}/${other.id}/domains`, { name: 'example.com' })
    assert.equal(taken.statusCode, 400)
    assert.match(textOf(taken.body), /already a verified domain of another organization/)

    const deleted = await d.submit(page, `${page}/domains/${domain!.id}/delete`)
    assert.equal(deleted.statusCode, 303)
    assert.match(textOf((await d.op.follow(deleted)).body), /The domain was deleted\. .*No domains\./)
    assert.equal((await d.t.db.query('select 1 from organization_domains where id = $1', [domain!.id])).length, 0)
  })

  it('refuses every POST without a valid CSRF token with 403, changing nothing', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const ada = await newUser(d, 'ada@example.com')
    const bob = await newUser(d, 'bob@example.com')
    const org = await newOrg(d, { name: 'Guarded', created_by: ada.id })
    await addMember(d, org.id, bob.id, 'org:member')
    const inv = (await client(d.t.app, d.secretKey).post(`/v1/organizations/${org.id}/invitations`, { email_address: 'cy@example.com', role: 'org:member', notify: false })).body
    const domain = (await client(d.t.app, d.secretKey).post(`/v1/organizations/${org.id}/domains`, { name: 'guarded.example' })).body
    assert.ok(inv.id && domain.id)
    const page = `${orgsOf(d)}/${org.id}`
    const foreign = csrfOf((await browser(d.t.app).get('/dashboard/sign-in')).body)
    const posts: [string, Record<string, string>][] = [
      [orgsOf(d), { name: 'Sneaky' }],
      [`${page}/members/${bob.id}/role`, { role: 'org:admin' }],
      [`${page}/members/${bob.id}/remove`, {}],
      [`${page}/invitations`, { email_address: 'sneaky@example.com', role: 'org:member' }],
      [`${page}/invitations/${inv.id}/revoke`, {}],
      [`${page}/domains`, { name: 'sneaky.example' }],
      [`${page}/domains/${domain.id}/delete`, {}],
    ]
    for (const [path, fields] of posts) {
      for (const token of [undefined, '', foreign, 'garbage']) {
        const res = await d.op.post(path, token === undefined ? fields : { ...fields, _csrf: token })
        assert.equal(res.statusCode, 403, `${path} with ${String(token)}`)
        assert.match(res.body, /This form has expired or was not sent from this site/)
      }
    }
    assert.equal((await d.t.db.query('select 1 from organizations')).length, 1)
    assert.equal(await roleOf(d, org.id, bob.id), 'org:member')
    assert.equal((await d.t.db.query(`select 1 from organization_invitations where status = 'pending'`)).length, 1)
    assert.equal((await d.t.db.query('select 1 from organization_domains')).length, 1)
  })

  it('renders hostile names, emails, metadata and typed values inert', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const payload = '</pre><script>alert(1)</script><img src=x onerror=alert(2)>'
    const user = await newUser(d, 'o\'neil&{x}=y@example.com', { first_name: '<script>alert(3)</script>' })
    // Names may not hold tags, but may hold quotes and ampersands.
    const org = await newOrg(d, { name: 'Q" onmouseover="alert(4)&amp;', created_by: user.id, public_metadata: { note: payload } })
    const page = `${orgsOf(d)}/${org.id}`
    const pages = [
      await d.op.get(orgsOf(d)),
      await d.op.get(page),
      await d.op.get(`/dashboard/${d.instanceId}/users/${user.id}`),
      await d.op.get(`${orgsOf(d)}?q=${encodeURIComponent('"><script>alert(5)</script>')}`),
      await d.submit(orgsOf(d), orgsOf(d), { name: '<script>alert(6)</script>', slug: '"><img src=x onerror=alert(7)>' }),
      await d.submit(page, `${page}/invitations`, { email_address: '"><script>alert(8)</script>', role: 'org:member' }),
      await d.submit(page, `${page}/domains`, { name: '"><img src=x onerror=alert(9)>' }),
    ]
    for (const res of pages) {
      assert.ok(res.statusCode < 500, res.body)
      assert.doesNotMatch(res.body, /<script>alert|<img src=x|" onmouseover=/i, res.body)
      assert.equal([...res.body.matchAll(/<script\b/g)].length, 1, 'only the dashboard\'s own script tag')
    }
    assert.match(pages[0]!.body, /Q&quot; onmouseover=&quot;alert\(4\)&amp;amp;/)
    assert.match(pages[1]!.body, /&lt;\/pre&gt;&lt;script&gt;alert\(1\)&lt;\/script&gt;/)
    assert.match(pages[1]!.body, /&lt;script&gt;alert\(3\)&lt;\/script&gt;/)
    assert.match(pages[1]!.body, /o&#39;neil&amp;\{x\}=y@example\.com/)
    assert.match(pages[4]!.body, /value="&lt;script&gt;alert\(6\)&lt;\/script&gt;"/)
  })

  // @see issue 19
  it('shows an invitation\'s email history, its reminder included, from the organization\'s page', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const api = client(d.t.app, d.secretKey)
    assert.equal((await api.patch('/v1/instance', { remind_before_expiry_days: 1 })).status, 200)
    const ada = await newUser(d, 'ada@example.com')
    const org = await newOrg(d, { name: 'Acme', created_by: ada.id })
    const inv = (await api.post(`/v1/organizations/${org.id}/invitations`, { email_address: 'cy@example.com', role: 'org:member', expires_in_days: 3 })).body
    await d.t.outboxWorker.drain()
    // The instance's own clock: the operator's session lives on the server's.
    assert.equal((await api.post('/v1/testing/clock', { advance_ms: 2 * 24 * 60 * 60 * 1000 + 1000 })).status, 200)
    d.t.clock.advance(1000)
    await d.t.expirySweep.runOnce()
    await d.t.outboxWorker.drain()

    const page = `${orgsOf(d)}/${org.id}`
    assert.match((await d.op.get(page)).body, new RegExp(`href="${page}/invitations/${inv.id}"`))
    const detail = await d.op.get(`${page}/invitations/${inv.id}`)
    assert.equal(detail.statusCode, 200, detail.body)
    const text = textOf(detail.body)
    assert.match(text, /cy@example\.com/)
    assert.match(text, /organization_invitation cy@example\.com sent/)
    assert.match(text, /organization_invitation_reminder cy@example\.com sent/)

    const history = await api.get(`/v1/organizations/${org.id}/invitations/${inv.id}/emails`)
    assert.equal(history.status, 200, JSON.stringify(history.body))
    assert.deepEqual(history.body.data.map((e: { template_slug: string; status: string }) => [e.template_slug, e.status]),
      [['organization_invitation', 'sent'], ['organization_invitation_reminder', 'sent']])
    assert.equal(history.body.total_count, 2)
    const other = await newOrg(d, { name: 'Other', created_by: ada.id })
    assert.equal((await api.get(`/v1/organizations/${other.id}/invitations/${inv.id}/emails`)).status, 404, 'under another organization')
    const stranger = await d.t.newInstance('Stranger')
    assert.equal((await client(d.t.app, stranger.secretKey).get(`/v1/organizations/${org.id}/invitations/${inv.id}/emails`)).status, 404, 'with another instance\'s key')
  })

  it('keeps instances apart: another instance\'s organization, member, invitation and domain ids are 404', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const other = await d.t.newInstance('Other')
    const theirUser = await newUser(d, 'theirs@example.com', {}, other.secretKey)
    const theirs = await newOrg(d, { name: 'Their org', created_by: theirUser.id }, other.secretKey)
    const theirApi = client(d.t.app, other.secretKey)
    const theirInv = (await theirApi.post(`/v1/organizations/${theirs.id}/invitations`, { email_address: 'x@example.com', role: 'org:member', notify: false })).body
    const theirDomain = (await theirApi.post(`/v1/organizations/${theirs.id}/domains`, { name: 'theirs.example' })).body
    const ourUser = await newUser(d, 'ours@example.com')
    const ours = await newOrg(d, { name: 'Our org', created_by: ourUser.id })

    const list = await d.op.get(orgsOf(d))
    assert.match(list.body, /Our org/)
    assert.doesNotMatch(list.body, /Their org/)
    assert.doesNotMatch((await d.op.get(`${orgsOf(d)}?q=${theirs.id}`)).body, /Their org/)
    assert.equal((await d.op.get(`${orgsOf(d)}/${theirs.id}`)).statusCode, 404)
    assert.equal((await d.op.get(`${orgsOf(d)}/${theirs.slug}`)).statusCode, 404, 'nor by slug')
    assert.equal((await d.op.get(`${orgsOf(d)}/${theirs.id}/invitations/${theirInv.id}`)).statusCode, 404)
    assert.equal((await d.op.get(`${orgsOf(d)}/${ours.id}/invitations/${theirInv.id}`)).statusCode, 404, 'nor under our organization')
    const csrf = csrfOf(list.body)
    const posts: [string, Record<string, string>][] = [
      [`${orgsOf(d)}/${theirs.id}/members/${theirUser.id}/role`, { role: 'org:member' }],
      [`${orgsOf(d)}/${theirs.id}/members/${theirUser.id}/remove`, {}],
      [`${orgsOf(d)}/${theirs.id}/invitations`, { email_address: 'y@example.com', role: 'org:member' }],
      [`${orgsOf(d)}/${theirs.id}/invitations/${theirInv.id}/revoke`, {}],
      [`${orgsOf(d)}/${theirs.id}/domains`, { name: 'sneaky.example' }],
      [`${orgsOf(d)}/${theirs.id}/domains/${theirDomain.id}/delete`, {}],
      // Their ids under our organization.
      [`${orgsOf(d)}/${ours.id}/members/${theirUser.id}/role`, { role: 'org:member' }],
      [`${orgsOf(d)}/${ours.id}/members/${theirUser.id}/remove`, {}],
      [`${orgsOf(d)}/${ours.id}/invitations/${theirInv.id}/revoke`, {}],
      [`${orgsOf(d)}/${ours.id}/domains/${theirDomain.id}/delete`, {}],
    ]
    for (const [path, fields] of posts) {
      const res = await d.op.post(path, { ...fields, _csrf: csrf })
      assert.equal(res.statusCode, 404, path)
    }
    assert.equal(await roleOf(d, theirs.id, theirUser.id), 'org:admin')
    assert.equal((await d.t.db.query<{ status: string }>('select status from organization_invitations where id = $1', [theirInv.id]))[0]!.status, 'pending')
    assert.equal((await d.t.db.query('select 1 from organization_domains where id = $1', [theirDomain.id])).length, 1)
    assert.equal((await d.t.db.query('select 1 from organization_invitations where organization_id = $1', [theirs.id])).length, 1)
  })
})
