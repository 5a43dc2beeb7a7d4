import { it } from 'node:test'
import assert from 'node:assert/strict'
import { client } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { browser, textOf } from '../pages/page-client.js'
import { startReceiver } from '../webhooks/receiver.js'
import { csrfOf, dashboardApp, formFields, type Dashboard } from './dashboard-client.js'

const webhooksOf = (d: Dashboard, rest = '') => `/dashboard/${d.instanceId}/webhooks${rest}`

type Row = { id: string; url: string; secret: string; event_types: string[]; enabled: boolean }
const endpoints = (d: Dashboard) =>
  d.t.db.query<Row>('select id, url, secret, event_types, enabled from webhook_endpoints where instance_id = $1 order by created_at', [d.instanceId])

/** Adds an endpoint through the form, as a person would; answers its row. */
async function addEndpoint(d: Dashboard, url: string, eventTypes: string[] = []): Promise<Row> {
  const page = await d.op.get(webhooksOf(d))
  const form = new URLSearchParams({ ...formFields(page.body, webhooksOf(d)), url, enabled: '1' })
  form.delete('event_types')
  for (const type of eventTypes) form.append('event_types', type)
  const res = await d.t.app.inject({
    method: 'POST', url: webhooksOf(d), remoteAddress: d.op.remoteAddress,
    headers: { cookie: [...d.op.jar].map(([k, v]) => `${k}=${v}`).join('; '), 'content-type': 'application/x-www-form-urlencoded' },
    payload: form.toString(),
  })
  assert.equal(res.statusCode, 303, res.body)
  const rows = await endpoints(d)
  const row = rows.at(-1)!
  assert.equal(res.headers.location, `${webhooksOf(d, `/${row.id}`)}?notice=created`)
  return row
}

/** Fan-out, then delivery. */
const deliverAll = async (d: Dashboard) => {
  await d.t.outboxWorker.drain()
  await d.t.outboxWorker.drain()
}

forEachDatabase('dashboard webhooks', (engine) => {
  it('adds an endpoint with an event filter, lists it, reveals and rotates its secret, disables, enables and deletes it', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const empty = await d.op.get(webhooksOf(d))
    assert.equal(empty.statusCode, 200, empty.body)
    assert.match(textOf(empty.body), /No webhook endpoints yet/)
    assert.match(empty.body, /value="organizationMembership\.created"/, 'every event type can be picked')

    const endpoint = await addEndpoint(d, 'https://hooks.example.com/foyer', ['invitation.created', 'invitation.revoked'])
    assert.deepEqual(endpoint.event_types, ['invitation.created', 'invitation.revoked'])
    assert.equal(endpoint.enabled, true)
    assert.match(endpoint.secret, /^whsec_/)
    const list = await d.op.get(webhooksOf(d))
    assert.match(textOf(list.body), /https:\/\/hooks\.example\.com\/foyer .* invitation\.created, invitation\.revoked enabled/)

    // The detail page does not show the secret until asked, with a POST.
    const detailPath = webhooksOf(d, `/${endpoint.id}`)
    const detail = await d.op.get(`${detailPath}?notice=created`)
    assert.equal(detail.statusCode, 200)
    assert.match(textOf(detail.body), /The endpoint was added/)
    assert.ok(!detail.body.includes(endpoint.secret), 'the secret is not on the page')
    assert.match(textOf(detail.body), /Nothing was sent to this endpoint yet/)
    const revealed = await d.submit(detailPath, `${detailPath}/secret`)
    assert.equal(revealed.statusCode, 200)
    assert.ok(revealed.body.includes(`value="${endpoint.secret}"`), 'revealed on demand')
    assert.equal(revealed.headers['cache-control'], 'no-store')

    // Rotation makes a new secret and shows it.
    const rotated = await d.submit(detailPath, `${detailPath}/rotate`)
    assert.equal(rotated.statusCode, 200)
    const [after] = await endpoints(d)
    assert.notEqual(after!.secret, endpoint.secret)
    assert.match(after!.secret, /^whsec_/)
    assert.ok(rotated.body.includes(`value="${after!.secret}"`))
    assert.match(textOf(rotated.body), /The secret was rotated/)

    const disabled = await d.submit(detailPath, `${detailPath}/disable`)
    assert.equal(disabled.statusCode, 303)
    assert.equal((await endpoints(d))[0]!.enabled, false)
    assert.match(textOf((await d.op.follow(disabled)).body), /The endpoint is disabled/)
    const enabled = await d.submit(detailPath, `${detailPath}/enable`)
    assert.equal(enabled.statusCode, 303)
    assert.equal((await endpoints(d))[0]!.enabled, true)

    // Edit: the URL and the filter (none checked: all events).
    const edited = await d.submit(detailPath, detailPath, { url: 'https://hooks.example.com/v2', event_types: '' })
    assert.equal(edited.statusCode, 303, edited.body)
    const [now] = await endpoints(d)
    assert.equal(now!.url, 'https://hooks.example.com/v2')
    assert.deepEqual(now!.event_types, [])
    assert.match(textOf((await d.op.follow(edited)).body), /Events All events/)

    // Delete asks first.
    const confirm = await d.op.get(`${detailPath}/delete`)
    assert.match(textOf(confirm.body), /Delete the endpoint https:\/\/hooks\.example\.com\/v2\?/)
    const deleted = await d.submit(`${detailPath}/delete`, `${detailPath}/delete`)
    assert.equal(deleted.statusCode, 303)
    assert.deepEqual(await endpoints(d), [])
    assert.match(textOf((await d.op.follow(deleted)).body), /The endpoint was deleted/)
    assert.equal((await d.op.get(detailPath)).statusCode, 404)
  })

  it('refuses a bad URL or event type inline with 422, keeping what was typed, and adds nothing', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    for (const [fields, message] of [
      [{ url: 'not a url' }, /The URL must be an absolute http or https URL/],
      [{ url: 'ftp://example.com/hook' }, /The URL must be an http or https URL without credentials/],
      [{ url: 'https://user:pw@example.com/hook' }, /without credentials/],
      [{ url: 'https://example.com/hook', event_types: 'no.such_event' }, /no\.such_event is not an event type/],
    ] as const) {
      const res = await d.submit(webhooksOf(d), webhooksOf(d), fields)
      assert.equal(res.statusCode, 422, res.body)
      assert.match(textOf(res.body), message)
      assert.match(res.body, /<details class="card" id="add" open>/)
      assert.ok(res.body.includes(`value="${fields.url}"`), 'the form keeps what was typed')
    }
    assert.deepEqual(await endpoints(d), [])
  })

  it('shows the delivery log with status and payload, and retries a delivery', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const receiver = await startReceiver(() => '', (n) => (n === 1 ? 500 : 200))
    t.after(receiver.close)
    const endpoint = await addEndpoint(d, receiver.url, ['invitation.created'])
    const api = client(d.t.app, d.secretKey)
    const invitation = (await api.post('/v1/invitations', { email_address: 'log@example.com', notify: false, public_metadata: { note: '</pre><script>alert(1)</script>' } })).body
    await deliverAll(d)
    assert.equal(receiver.received.length, 1)

    const detailPath = webhooksOf(d, `/${endpoint.id}`)
    const page = await d.op.get(detailPath)
    assert.equal(page.statusCode, 200, page.body)
    const [delivery] = await d.t.db.query<{ id: string }>('select id from webhook_deliveries where endpoint_id = $1', [endpoint.id])
    assert.ok(delivery)
    assert.match(page.body, new RegExp(`data-delivery="${delivery.id}"`))
    assert.match(textOf(page.body), /invitation\.created .* pending next attempt/)
    assert.match(textOf(page.body), /500/)
    // The payload, pretty-printed and escaped.
    assert.ok(page.body.includes(`&quot;id&quot;: &quot;${invitation.id}&quot;`), 'the event payload is shown')
    assert.ok(page.body.includes('&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;'), 'escaped')
    assert.doesNotMatch(page.body, /<script>alert/)

    const retry = `${detailPath}/deliveries/${delivery.id}/retry`
    const retried = await d.submit(detailPath, retry)
    assert.equal(retried.statusCode, 303, retried.body)
    assert.match(textOf((await d.op.follow(retried)).body), /The delivery is due now/)
    await d.t.outboxWorker.drain()
    assert.equal(receiver.received.length, 2)
    const after = await d.op.get(detailPath)
    assert.match(textOf(after.body), /invitation\.created .* delivered/)
    assert.match(after.body, /Send again/)
  })

  it('renders hostile URLs and payloads inert', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const endpoint = await addEndpoint(d, `https://example.com/?q='"><script>alert(1)</script><img src=x onerror=alert(2)>`)
    const api = client(d.t.app, d.secretKey)
    await api.post('/v1/invitations', { email_address: 'x@example.com', notify: false, public_metadata: { a: '"><script>alert(3)</script>', b: '</details><img src=x onerror=alert(4)>' } })
    await d.t.outboxWorker.drain()
    const detailPath = webhooksOf(d, `/${endpoint.id}`)
    for (const page of [
      await d.op.get(webhooksOf(d)), await d.op.get(detailPath), await d.op.get(`${detailPath}/delete`),
      await d.submit(webhooksOf(d), webhooksOf(d), { url: `javascript:alert(5)//"><script>alert(6)</script>` }),
      await d.submit(detailPath, detailPath, { url: `"><script>alert(7)</script>` }),
    ]) {
      assert.doesNotMatch(page.body, /<script>alert|<img src=x/i, page.body)
      assert.equal([...page.body.matchAll(/<script\b/g)].length, 1, 'only the dashboard\'s own script tag')
    }
    assert.equal((await endpoints(d)).length, 1, 'the javascript: URL was refused')
  })

  it('refuses every POST without a valid CSRF token with 403, changing nothing; needs a session', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const endpoint = await addEndpoint(d, 'https://hooks.example.com/foyer')
    const base = webhooksOf(d, `/${endpoint.id}`)
    const stranger = browser(d.t.app)
    const foreign = csrfOf((await stranger.get('/dashboard/sign-in')).body)
    const posts: [string, Record<string, string>][] = [
      [webhooksOf(d), { url: 'https://evil.example.com/' }],
      [base, { url: 'https://evil.example.com/' }],
      [`${base}/secret`, {}], [`${base}/rotate`, {}], [`${base}/disable`, {}], [`${base}/delete`, {}],
      [`${base}/deliveries/msg_whatever/retry`, {}],
    ]
    for (const [path, fields] of posts) {
      for (const token of [undefined, '', foreign, 'garbage']) {
        const res = await d.op.post(path, token === undefined ? fields : { ...fields, _csrf: token })
        assert.equal(res.statusCode, 403, `${path} with ${token === undefined ? 'no' : JSON.stringify(token)} token`)
        assert.match(res.body, /This form has expired or was not sent from this site/)
        assert.ok(!res.body.includes(endpoint.secret))
      }
    }
    assert.deepEqual(await endpoints(d), [endpoint], 'nothing changed')
    const signedOut = await stranger.get(base)
    assert.equal(signedOut.statusCode, 303)
    assert.match(String(signedOut.headers.location), /^\/dashboard\/sign-in\?next=/)
    const signedOutPost = await stranger.post(`${base}/secret`, { _csrf: csrfOf((await stranger.get('/dashboard/sign-in')).body) })
    assert.equal(signedOutPost.statusCode, 401)
    assert.ok(!signedOutPost.body.includes(endpoint.secret))
  })

  it('keeps instances apart: another instance\'s endpoint and delivery ids are 404 for every action', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const other = await d.t.newInstance('Other')
    const theirApi = client(d.t.app, other.secretKey)
    const theirs = (await theirApi.post('/v1/webhooks/endpoints', { url: 'http://127.0.0.1:9/theirs' })).body
    await theirApi.post('/v1/invitations', { email_address: 'theirs@example.com', notify: false })
    await d.t.outboxWorker.drain()
    const [theirDelivery] = await d.t.db.query<{ id: string }>('select id from webhook_deliveries where endpoint_id = $1', [theirs.id])
    assert.ok(theirDelivery)
    const ours = await addEndpoint(d, 'https://hooks.example.com/ours')

    const list = await d.op.get(webhooksOf(d))
    assert.doesNotMatch(list.body, /theirs/)
    const theirPath = webhooksOf(d, `/${theirs.id}`)
    assert.equal((await d.op.get(theirPath)).statusCode, 404)
    assert.equal((await d.op.get(`${theirPath}/delete`)).statusCode, 404)
    const csrf = csrfOf(list.body)
    for (const action of ['', '/secret', '/rotate', '/disable', '/enable', '/delete', `/deliveries/${theirDelivery.id}/retry`]) {
      const res = await d.op.post(`${theirPath}${action}`, { _csrf: csrf, url: 'https://evil.example.com/' })
      assert.equal(res.statusCode, 404, action)
      assert.ok(!res.body.includes(theirs.secret ?? 'whsec_'), action)
    }
    // Their delivery through our endpoint's path: 404 too.
    assert.equal((await d.op.post(webhooksOf(d, `/${ours.id}/deliveries/${theirDelivery.id}/retry`), { _csrf: csrf })).statusCode, 404)
    const [row] = await d.t.db.query<{ url: string; enabled: boolean; secret: string }>('select url, enabled, secret from webhook_endpoints where id = $1', [theirs.id])
    assert.deepEqual(row, { url: 'http://127.0.0.1:9/theirs', enabled: true, secret: theirs.secret })
  })
})
