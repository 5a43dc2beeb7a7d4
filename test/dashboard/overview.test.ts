import { it } from 'node:test'
import assert from 'node:assert/strict'
import { client } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { makeInvitation } from '../helpers/factories.js'
import { browser, textOf } from '../pages/page-client.js'
import { DAY_MS } from '../../src/platform/clock.js'
import { createOverviewStore, windowStart } from '../../src/dashboard/overview.store.js'
import { dashboardApp, formFields, OPERATOR_EMAIL, OPERATOR_PASSWORD, type Dashboard } from './dashboard-client.js'

const HOUR_MS = 60 * 60 * 1000
const overviewOf = (d: Dashboard) => `/dashboard/${d.instanceId}/overview`
const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10)

/** The table's rows: day → [created, accepted, expired, revoked]. */
function tableOf(body: string): Map<string, number[]> {
  const rows = [...body.matchAll(/<tr data-day="([\d-]+)"><th scope="row">[\d-]+<\/th>((?:<td>\d+<\/td>){4})<\/tr>/g)]
  return new Map(rows.map((r) => [r[1]!, [...r[2]!.matchAll(/<td>(\d+)<\/td>/g)].map((m) => Number(m[1]))]))
}

/** Accepts an invitation the way a person does: its link, then the sign-up form with a password. */
async function accept(d: Dashboard, url: string) {
  const b = browser(d.t.app)
  const page = await b.follow(await b.get(url))
  const done = await b.submit(page, { password: 'correct horse battery' })
  assert.equal(done.statusCode, 303, done.body)
}

forEachDatabase('dashboard overview', (engine) => {
  it('counts invitations created, accepted, expired and revoked per UTC day over the last 30 days, with the acceptance rate', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const api = client(d.t.app, d.secretKey)
    const clock = d.t.clock
    // Start one hour into a UTC day, so that every step below lands on a known day.
    clock.advance(DAY_MS - (clock.now() % DAY_MS) + HOUR_MS)

    // Created 35 days before "today": outside the window; revoked inside it, counted on that day.
    const old = await makeInvitation(api, { expires_in_days: 365 })
    clock.advance(35 * DAY_MS)
    const day0 = clock.now()
    assert.equal((await api.post(`/v1/invitations/${old.id}/revoke`)).status, 200)

    // Day 0: four created; c expires after one day; d is revoked the same day.
    const a = await makeInvitation(api)
    const b = await makeInvitation(api)
    await makeInvitation(api, { expires_in_days: 1 })
    const dd = await makeInvitation(api)
    assert.equal((await api.post(`/v1/invitations/${dd.id}/revoke`)).status, 200)
    // Another instance's invitations never count.
    const other = await d.t.newInstance('Other')
    await makeInvitation(client(d.t.app, other.secretKey))

    // Day 1: a accepted; c's expiry passes (day 0 + 24 h); one more created.
    clock.advance(DAY_MS + HOUR_MS)
    await accept(d, a.url)
    await makeInvitation(api)

    // Day 3: b revoked. "Today" is day 3.
    clock.advance(2 * DAY_MS)
    assert.equal((await api.post(`/v1/invitations/${b.id}/revoke`)).status, 200)

    // Five weeks outlast the operator's session: sign in again.
    const signIn = await d.op.get('/dashboard/sign-in')
    const signedIn = await d.op.post('/dashboard/sign-in', { ...formFields(signIn.body, '/dashboard/sign-in'), email_address: OPERATOR_EMAIL, password: OPERATOR_PASSWORD })
    assert.equal(signedIn.statusCode, 303, signedIn.body)
    const page = await d.op.get(overviewOf(d))
    assert.equal(page.statusCode, 200)
    assert.match(page.body, /<a href="[^"]*\/overview" aria-current="page">Overview<\/a>/)
    const table = tableOf(page.body)
    assert.equal(table.size, 30)
    const days = [...table.keys()]
    assert.equal(days[29], isoDay(clock.now()), 'the last row is today')
    assert.equal(days[0], isoDay(clock.now() - 29 * DAY_MS))
    assert.deepEqual(table.get(isoDay(day0)), [4, 0, 0, 2], 'day 0: four created, two revoked (d, and the old one)')
    assert.deepEqual(table.get(isoDay(day0 + DAY_MS)), [1, 1, 1, 0], 'day 1: one created, a accepted, c expired')
    assert.deepEqual(table.get(isoDay(day0 + 2 * DAY_MS)), [0, 0, 0, 0])
    assert.deepEqual(table.get(isoDay(day0 + 3 * DAY_MS)), [0, 0, 0, 1], 'day 3: b revoked')
    const sum = [...table.values()].reduce((s, r) => s.map((n, i) => n + r[i]!), [0, 0, 0, 0])
    assert.deepEqual(sum, [5, 1, 1, 3])

    const text = textOf(page.body)
    assert.match(text, /Acceptance rate 20% \(1 of the 5 invitations created in these days are accepted\)/)
    assert.match(page.body, /<dd data-total="created">5<\/dd>/)

    // The chart: an SVG drawn on the server, labelled, one bar per day with invitations created.
    const svg = /<svg viewBox="0 0 760 260"[\s\S]*?<\/svg>/.exec(page.body)?.[0]
    assert.ok(svg, 'an inline SVG chart')
    assert.match(svg, /role="img" aria-labelledby="chart-title chart-desc"/)
    assert.match(svg, /<desc id="chart-desc">[^<]*5 were created, 1 accepted, 1 expired and 3 revoked; acceptance rate 20%/)
    assert.equal([...svg.matchAll(/<rect [^>]*><title>[\d-]+: \d+ created<\/title><\/rect>/g)].length, 2)
    assert.equal([...svg.matchAll(/<polyline /g)].length, 3)
    assert.ok(!/<script(?![^>]*\ssrc=)|<style|\sstyle=/.test(page.body), 'no inline script or style')
  })

  it('a day\'s invitations appear in the store\'s one query exactly as on the page, and an empty instance shows zeros', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const empty = await d.op.get(overviewOf(d))
    assert.equal(empty.statusCode, 200)
    assert.match(textOf(empty.body), /Acceptance rate — /)
    assert.ok([...tableOf(empty.body).values()].every((r) => r.every((n) => n === 0)))

    const api = client(d.t.app, d.secretKey)
    await makeInvitation(api)
    await makeInvitation(api)
    const now = d.t.clock.now()
    const days = await createOverviewStore().perDay(d.t.db, d.instanceId, now)
    assert.equal(days.length, 30)
    assert.equal(days[0]!.day, windowStart(now))
    assert.equal(days[29]!.created, 2)
    assert.equal(days.reduce((n, x) => n + x.created, 0), 2)
  })

  it('is behind the operator session: without one the page redirects to sign-in', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const res = await browser(d.t.app).get(overviewOf(d))
    assert.equal(res.statusCode, 303)
    assert.match(String(res.headers.location), /^\/dashboard\/sign-in\?next=/)
  })
})
