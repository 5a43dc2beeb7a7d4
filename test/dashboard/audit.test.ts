import { it } from 'node:test'
import assert from 'node:assert/strict'
import { client } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { makeInvitation } from '../helpers/factories.js'
import { textOf } from '../pages/page-client.js'
import { parseCsv } from '../../src/cli/csv.js'
import { csrfOf, dashboardApp, type Dashboard } from './dashboard-client.js'

const auditOf = (d: Dashboard, rest = '') => `/dashboard/${d.instanceId}/audit${rest}`

forEachDatabase('dashboard audit log', (engine) => {
  it('lists changes newest first, filters by actor, action, target and date, pages, and exports CSV that no spreadsheet runs', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const api = client(d.t.app, d.secretKey)
    const invitations = []
    for (let i = 0; i < 55; i++) invitations.push(await makeInvitation(api))
    const org = await api.post('/v1/organizations', { name: '=SUM(1,2) "x"' })
    assert.equal(org.status, 200, JSON.stringify(org.body))
    const revoked = await d.submit(`/dashboard/${d.instanceId}/invitations?q=${invitations.at(-1)!.id}`, `/dashboard/${d.instanceId}/invitations/${invitations.at(-1)!.id}/revoke`)
    assert.equal(revoked.statusCode, 303, revoked.body)

    const page = await d.op.get(auditOf(d))
    assert.equal(page.statusCode, 200, page.body)
    assert.match(page.body, /<a [^>]*aria-current="page"[^>]*>Audit<\/a>|>Audit</, 'the section is in the nav')
    const text = textOf(page.body)
    assert.match(text, /1–50 of 58/)
    assert.ok(text.indexOf('invitation.revoked') < text.indexOf('organization.created'), 'newest first')
    assert.match(text, /ops@example\.com/, 'the operator is named')
    assert.ok(page.body.includes('=SUM(1,2) &quot;x&quot;'), 'labels are escaped')

    const next = textOf((await d.op.get(auditOf(d, '?offset=50'))).body)
    assert.match(next, /51–58 of 58/)

    const key = (await d.t.db.query<{ id: string }>('select id from secret_keys where instance_id = $1', [d.instanceId]))[0]!.id
    assert.match(textOf((await d.op.get(auditOf(d, `?actor=${key}`))).body), /1–50 of 56/)
    assert.match(textOf((await d.op.get(auditOf(d, '?action=invitation.revoked'))).body), /1–1 of 1/)
    assert.match(textOf((await d.op.get(auditOf(d, `?target=${invitations.at(-1)!.id}`))).body), /1–2 of 2/)
    const today = new Date(d.t.clock.now()).toISOString().slice(0, 10)
    assert.match(textOf((await d.op.get(auditOf(d, `?from=${today}&to=${today}`))).body), /of 58/)
    assert.match(textOf((await d.op.get(auditOf(d, '?to=2001-01-01'))).body), /No changes match/)

    const csv = await d.op.get(auditOf(d, '.csv?action=organization.created'))
    assert.equal(csv.statusCode, 200)
    assert.match(String(csv.headers['content-type']), /^text\/csv/)
    assert.match(String(csv.headers['content-disposition']), /^attachment; filename="foyer-audit-ins_/)
    const [header, ...rows] = parseCsv(csv.body)
    assert.equal(header![6], 'action')
    assert.equal(rows.length, 1)
    assert.equal(rows[0]![9], '\'=SUM(1,2) "x"', 'a cell starting with = is quoted')
    assert.equal(parseCsv((await d.op.get(auditOf(d, '.csv'))).body).length, 59, 'the header and every record')

    // Read-only: nothing on the page posts, and there is no route to change a record.
    assert.doesNotMatch(page.body, /method="post" action="[^"]*audit/)
    assert.equal((await d.op.post(auditOf(d), { _csrf: csrfOf(page.body) })).statusCode, 404)
  })
})
