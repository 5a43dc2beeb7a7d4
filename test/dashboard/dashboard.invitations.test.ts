import { it } from 'node:test'
import assert from 'node:assert/strict'
import { client } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { browser, textOf } from '../pages/page-client.js'
import { DAY_MS } from '../../src/platform/clock.js'
import { csrfOf, dashboardApp, formFields, type Dashboard } from './dashboard-client.js'

const invitationsOf = (d: Dashboard) => `/dashboard/${d.instanceId}/invitations`

async function invite(d: Dashboard, fields: Record<string, string>) {
  return d.submit(invitationsOf(d), invitationsOf(d), { notify: '1', expires_in_days: '30', ...fields })
}

const statusOf = async (d: Dashboard, id: string) =>
  (await d.t.db.query<{ status: string }>('select status from invitations where id = $1', [id]))[0]?.status ?? 'gone'

forEachDatabase('dashboard invitations', (engine) => {
  it('POST /dashboard/:instance/invitations invites several people, one per line, with expiry, metadata and no email', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const res = await invite(d, { emails: 'Ann@Example.com\n\n bob@example.com \nann@example.com', expires_in_days: '7', public_metadata: '{"plan":"pro"}', redirect_url: 'https://app.example.com/welcome', notify: '' })
    assert.equal(res.statusCode, 303, res.body)
    const list = await d.op.follow(res)
    assert.match(textOf(list.body), /2 invitations were created\./)
    assert.match(list.body, /ann@example\.com/)
    assert.match(list.body, /bob@example\.com/)
    const rows = await d.t.db.query<{ email_address: string; public_metadata: object; redirect_url: string; notify: boolean; expires_at: number; created_at: number }>(
      'select * from invitations where instance_id = $1 order by email_address', [d.instanceId])
    assert.deepEqual(rows.map((r) => r.email_address), ['ann@example.com', 'bob@example.com'])
    for (const r of rows) {
      assert.deepEqual(r.public_metadata, { plan: 'pro' })
      assert.equal(r.redirect_url, 'https://app.example.com/welcome')
      assert.equal(r.notify, false)
      assert.equal(Number(r.expires_at) - Number(r.created_at), 7 * DAY_MS)
    }
    const emails = await d.t.db.query(`select 1 from outbox where instance_id = $1 and kind = 'email'`, [d.instanceId])
    assert.equal(emails.length, 0)

    // A date instead of days: the invitation expires on that day.
    const onDate = new Date(d.t.clock.now() + 10 * DAY_MS).toISOString().slice(0, 10)
    assert.equal((await invite(d, { emails: 'cy@example.com', expires_on: onDate })).statusCode, 303)
    const [cy] = await d.t.db.query<{ expires_at: number }>(`select expires_at from invitations where email_address = 'cy@example.com'`)
    assert.equal(new Date(Number(cy!.expires_at)).toISOString().slice(0, 10), onDate)
  })

  it('refuses invalid input inline with 422, keeping what was typed, and creates nothing', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const cases: [Record<string, string>, RegExp][] = [
      [{ emails: '' }, /Enter at least one email address/],
      [{ emails: 'ok@example.com\nnot-an-address' }, /not-an-address is not a valid email address/],
      [{ emails: 'ok@example.com', public_metadata: '{"plan": pro}' }, /Public metadata is not valid JSON/],
      [{ emails: 'ok@example.com', public_metadata: '["a"]' }, /Public metadata must be a JSON object/],
      // @see issue 12
      [{ emails: 'ok@example.com', public_metadata: '{"plan": {"__proto__": {"x": 1}}}' }, /Public metadata may not use the key plan\.__proto__/],
      [{ emails: 'ok@example.com', redirect_url: 'https://evil.example/' }, /The redirect URL must point to an allowed origin/],
      [{ emails: 'ok@example.com', expires_in_days: '0' }, /whole number of days from 1 to 365/],
      [{ emails: 'ok@example.com', expires_on: '2001-01-01' }, /must be after today/],
    ]
    for (const [fields, message] of cases) {
      const res = await invite(d, fields)
      assert.equal(res.statusCode, 422, JSON.stringify(fields))
      assert.match(textOf(res.body), message)
      assert.match(res.body, /<details class="card" id="invite" open>/)
      if (fields.public_metadata) assert.ok(res.body.includes(fields.public_metadata.replaceAll('"', '&quot;')), 'the metadata typed is kept')
    }
    assert.equal((await d.t.db.query('select 1 from invitations')).length, 0)

    assert.equal((await invite(d, { emails: 'dup@example.com' })).statusCode, 303)
    const dup = await invite(d, { emails: 'new@example.com\ndup@example.com' })
    assert.equal(dup.statusCode, 400)
    assert.match(textOf(dup.body), /dup@example\.com already has a pending invitation/)
    assert.equal((await d.t.db.query(`select 1 from invitations where email_address = 'new@example.com'`)).length, 0, 'all or nothing')
  })

  it('lists by status tab, searches by email or id, sorts and pages', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const api = client(d.t.app, d.secretKey)
    const made: { id: string; email_address: string }[] = []
    for (let i = 0; i < 23; i++) {
      made.push((await api.post('/v1/invitations', { email_address: `p${String(i).padStart(2, '0')}@example.com`, notify: false })).body)
      d.t.clock.advance(1000)
    }
    await api.post(`/v1/invitations/${made[0]!.id}/revoke`)
    const first = await d.op.get(invitationsOf(d))
    assert.match(textOf(first.body), /1–20 of 22/)
    assert.ok(first.body.indexOf('p22@example.com') < first.body.indexOf('p21@example.com'), 'newest first')
    const next = await d.op.get(`${invitationsOf(d)}?offset=20`)
    assert.match(textOf(next.body), /21–22 of 22/)
    const revoked = await d.op.get(`${invitationsOf(d)}?status=revoked`)
    assert.match(revoked.body, /p00@example\.com/)
    assert.doesNotMatch(revoked.body, /p01@example\.com/)
    const byEmail = await d.op.get(`${invitationsOf(d)}?q=P05`)
    assert.match(textOf(byEmail.body), /1–1 of 1/)
    assert.match(byEmail.body, /p05@example\.com/)
    const byId = await d.op.get(`${invitationsOf(d)}?status=all&q=${made[7]!.id}`)
    assert.match(byId.body, /p07@example\.com/)
    const sorted = await d.op.get(`${invitationsOf(d)}?order_by=%2Bemail_address`)
    assert.ok(sorted.body.indexOf('p01@example.com') < sorted.body.indexOf('p02@example.com'))
    const bogus = await d.op.get(`${invitationsOf(d)}?order_by=password&status=evil&offset=-5`)
    assert.equal(bogus.statusCode, 200)
    // The instance's test clock: the operator's session runs on the wall clock and stays valid.
    assert.equal((await api.post('/v1/testing/clock', { advance_ms: 31 * DAY_MS })).status, 200)
    const expired = await d.op.get(`${invitationsOf(d)}?status=expired`)
    assert.match(textOf(expired.body), /of 22/)
    assert.match(expired.body, /Re-issue/)
  })

  it('resends, revokes, and deletes only after the confirmation step; the detail page shows the link and email history', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const res = await invite(d, { emails: 'dee@example.com' })
    assert.equal(res.statusCode, 303)
    const [inv] = await d.t.db.query<{ id: string }>(`select id from invitations where email_address = 'dee@example.com'`)
    const detailPath = `${invitationsOf(d)}/${inv!.id}`
    const detail = await d.op.get(detailPath)
    assert.equal(detail.statusCode, 200)
    assert.match(detail.body, /<input id="link-inv_\w+" class="mono" readonly value="http:\/\/foyer\.test\/v1\/tickets\/accept\?ticket=[\w-]+">/)
    assert.match(textOf(detail.body), /Email delivery .* invitation dee@example\.com queued/)

    const resent = await d.submit(detailPath, `${detailPath}/resend`)
    assert.equal(resent.statusCode, 303)
    assert.equal(resent.headers.location, `${detailPath}?notice=resent`)
    await d.t.outboxWorker.drain()
    const history = await d.op.follow(resent)
    assert.match(textOf(history.body), /The invitation email was queued again/)
    assert.equal([...history.body.matchAll(/status-sent/g)].length, 2, 'two emails sent')

    const revoked = await d.submit(invitationsOf(d), `${detailPath}/revoke`)
    assert.equal(revoked.statusCode, 303)
    assert.equal(await statusOf(d, inv!.id), 'revoked')
    const twice = await d.submit(`${invitationsOf(d)}?status=revoked`, `${detailPath}/resend`).catch(() => null)
    assert.equal(twice, null, 'a revoked invitation offers no resend')

    const confirm = await d.op.get(`${detailPath}/delete?back=${encodeURIComponent(detailPath)}`)
    assert.equal(confirm.statusCode, 200)
    assert.match(textOf(confirm.body), /Delete the revoked invitation for dee@example\.com\?/)
    assert.equal(await statusOf(d, inv!.id), 'revoked', 'the GET deletes nothing')
    const deleted = await d.op.post(`${detailPath}/delete`, formFields(confirm.body, `${detailPath}/delete`))
    assert.equal(deleted.statusCode, 303)
    assert.equal(deleted.headers.location, `${invitationsOf(d)}?notice=deleted`)
    assert.equal(await statusOf(d, inv!.id), 'gone')
    assert.equal((await d.op.get(detailPath)).statusCode, 404)
  })

  it('the detail page\'s email history shows the reminder the instance\'s setting sent', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    assert.equal((await client(d.t.app, d.secretKey).patch('/v1/instance', { remind_before_expiry_days: 2 })).status, 200)
    assert.equal((await invite(d, { emails: 'rae@example.com', expires_in_days: '5' })).statusCode, 303)
    const [inv] = await d.t.db.query<{ id: string }>(`select id from invitations where email_address = 'rae@example.com'`)
    // The instance's test clock: the sweep judges each invitation on its own instance's time
    // (and the operator's session, on the server's, does not run out).
    assert.equal((await client(d.t.app, d.secretKey).post('/v1/testing/clock', { advance_ms: 3 * DAY_MS })).status, 200)
    await d.t.expirySweep.runOnce()
    await d.t.outboxWorker.drain()
    const detail = await d.op.get(`${invitationsOf(d)}/${inv!.id}`)
    assert.equal(detail.statusCode, 200)
    assert.match(textOf(detail.body), /Email delivery .* invitation_reminder rae@example\.com sent/)
    assert.match(textOf(detail.body), /Email delivery .* invitation rae@example\.com sent/)
    assert.equal([...detail.body.matchAll(/status-sent/g)].length, 2, 'the invitation and its reminder, both sent')
  })

  it('refuses every POST without a valid CSRF token with 403, changing nothing', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    assert.equal((await invite(d, { emails: 'eve@example.com' })).statusCode, 303)
    const [inv] = await d.t.db.query<{ id: string }>('select id from invitations')
    const base = `${invitationsOf(d)}/${inv!.id}`
    // A token minted for another browser's secret is as bad as none.
    const stranger = browser(d.t.app)
    const foreign = csrfOf((await stranger.get('/dashboard/sign-in')).body)
    const posts: [string, Record<string, string>][] = [
      ['/dashboard/sign-out', {}],
      ['/dashboard/instances', { name: 'Sneaky' }],
      [invitationsOf(d), { emails: 'csrf@example.com', notify: '1' }],
      [`${base}/resend`, {}],
      [`${base}/revoke`, {}],
      [`${base}/delete`, {}],
    ]
    for (const [path, fields] of posts) {
      for (const token of [undefined, '', foreign, 'garbage']) {
        const res = await d.op.post(path, token === undefined ? fields : { ...fields, _csrf: token })
        assert.equal(res.statusCode, 403, `${path} with ${token === undefined ? 'no' : JSON.stringify(token)} token`)
        assert.match(res.body, /This form has expired or was not sent from this site/)
      }
    }
    // Forms of the public pages are checked too.
    for (const path of ['/dashboard/sign-in', '/dashboard/setup']) {
      const res = await stranger.post(path, { email_address: 'x@example.com', password: 'whatever-password', token: 'x' })
      assert.equal(res.statusCode, 403, path)
    }
    assert.equal(await statusOf(d, inv!.id), 'pending')
    assert.equal((await d.t.db.query('select 1 from invitations')).length, 1)
    assert.equal((await d.t.db.query(`select 1 from instances where name = 'Sneaky'`)).length, 0)
    assert.equal((await d.op.get(invitationsOf(d))).statusCode, 200, 'still signed in')
  })

  it('renders emails, metadata, instance names and search text inert', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const api = client(d.t.app, d.secretKey)
    const payload = '</pre><script>alert(1)</script><img src=x onerror=alert(2)>'
    const inv = (await api.post('/v1/invitations', { email_address: 'o\'neil&{x}=y@example.com', public_metadata: { note: payload, [payload]: 1 }, notify: false })).body
    assert.ok(inv.id, JSON.stringify(inv))
    await api.patch('/v1/instance', { application_name: `<script>alert(3)</script>` })
    const pages = [
      await d.op.get(invitationsOf(d)),
      await d.op.get(`${invitationsOf(d)}/${inv.id}`),
      await d.op.get(`${invitationsOf(d)}?q=${encodeURIComponent('"><script>alert(4)</script>')}`),
      await invite(d, { emails: `</textarea><script>alert(5)</script>`, public_metadata: `{"a":"</textarea><script>alert(6)</script>"}` }),
      await d.submit('/dashboard/instances/new', '/dashboard/instances', { name: '<img src=x onerror=alert(7)>' }),
    ]
    for (const page of pages) {
      assert.ok(page.statusCode < 500, page.body)
      assert.doesNotMatch(page.body, /<script>alert|<img src=x/i, page.body)
      assert.equal([...page.body.matchAll(/<script\b/g)].length, 1, 'only the dashboard\'s own script tag')
    }
    assert.match(pages[0]!.body, /o&#39;neil&amp;\{x\}=y@example\.com/)
    assert.match(pages[1]!.body, /&lt;\/pre&gt;&lt;script&gt;alert\(1\)&lt;\/script&gt;/)
    assert.match(pages[0]!.body, /&lt;script&gt;alert\(3\)&lt;\/script&gt;/)
    assert.match(pages[4]!.body, /&lt;img src=x onerror=alert\(7\)&gt;/)
  })

  it('keeps instances apart: another instance\'s invitation ids are 404 for every action, and lists never mix', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const other = await d.t.newInstance('Other')
    const theirs = (await client(d.t.app, other.secretKey).post('/v1/invitations', { email_address: 'theirs@example.com', notify: false })).body
    assert.equal((await invite(d, { emails: 'ours@example.com' })).statusCode, 303)

    const ours = invitationsOf(d)
    const list = await d.op.get(`${ours}?status=all`)
    assert.match(list.body, /ours@example\.com/)
    assert.doesNotMatch(list.body, /theirs@example\.com/)
    assert.doesNotMatch((await d.op.get(`${ours}?status=all&q=${theirs.id}`)).body, /theirs@example\.com/)
    assert.equal((await d.op.get(`${ours}/${theirs.id}`)).statusCode, 404)
    assert.equal((await d.op.get(`${ours}/${theirs.id}/delete`)).statusCode, 404)
    const csrf = csrfOf(list.body)
    for (const action of ['resend', 'revoke', 'delete']) {
      const res = await d.op.post(`${ours}/${theirs.id}/${action}`, { _csrf: csrf })
      assert.equal(res.statusCode, 404, action)
    }
    assert.equal(await statusOf(d, theirs.id), 'pending')

    // The other instance is reached only by selecting it, and then shows only its own data.
    const switched = await d.op.get(`/dashboard/switch?instance=${other.instance.id}`)
    assert.equal(switched.headers.location, `/dashboard/${other.instance.id}/invitations`)
    const theirList = await d.op.follow(switched)
    assert.match(theirList.body, /theirs@example\.com/)
    assert.doesNotMatch(theirList.body, /ours@example\.com/)
    assert.equal((await d.op.get('/dashboard/ins_doesnotexist/invitations')).statusCode, 404)
    assert.equal((await d.op.get('/dashboard/switch?instance=ins_doesnotexist')).statusCode, 404)
  })

  it('creates a new instance, shows its secret key once, and the key works against the API', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const res = await d.submit('/dashboard/instances/new', '/dashboard/instances', { name: 'Staging' })
    assert.equal(res.statusCode, 200)
    assert.match(res.headers['cache-control'] as string, /no-store/)
    const key = /id="secret-key" class="secret" readonly value="(sk_test_\w+)"/.exec(res.body)?.[1]
    assert.ok(key, res.body)
    const settings = await client(d.t.app, key).get('/v1/instance')
    assert.equal(settings.status, 200)
    assert.equal(settings.body.application_name, 'Staging')
    const page = await d.op.get(`/dashboard/${settings.body.id}/invitations`)
    assert.match(page.body, /<option value="ins_\w+" selected>Staging \(test\)<\/option>/)
    assert.ok(!page.body.includes(key), 'the key is not shown again')
    const empty = await d.submit('/dashboard/instances/new', '/dashboard/instances', { name: '  ' })
    assert.equal(empty.statusCode, 422)
    assert.match(empty.body, /Give the instance a name/)
  })
})
