import { it } from 'node:test'
import assert from 'node:assert/strict'
import { client, uniqueEmail } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { textOf } from '../pages/page-client.js'
import { csrfOf, dashboardApp, type Dashboard } from './dashboard-client.js'

const settingsOf = (d: Dashboard) => `/dashboard/${d.instanceId}/settings`
const entries = async (d: Dashboard, list: 'allowlist' | 'blocklist') => {
  const res = await client(d.t.app, d.secretKey).get(`/v1/${list}_identifiers?paginated=true&limit=100`)
  return (res.body.data as { id: string; identifier: string; invitation_id?: string }[])
}

forEachDatabase('dashboard settings: allowlist and blocklist', (engine) => {
  it('adds an entry to each list, shows it escaped, and removes it; notify sends an invitation', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const page = await d.op.get(settingsOf(d))
    assert.equal(page.statusCode, 200)
    assert.match(textOf(page.body), /The allowlist is empty\./)
    assert.match(textOf(page.body), /The blocklist is empty\./)

    const allowed = uniqueEmail('dash.allowed')
    const added = await d.op.post(`${settingsOf(d)}/allowlist`, { _csrf: csrfOf(page.body), identifier: allowed.toUpperCase(), notify: 'on' })
    assert.equal(added.statusCode, 303, added.body)
    assert.equal(added.headers.location, `${settingsOf(d)}?notice=allowlist-added#allowlist`)
    const [entry] = await entries(d, 'allowlist')
    assert.equal(entry?.identifier, allowed)
    assert.match(entry?.invitation_id ?? '', /^inv_/)

    const blocked = await d.op.post(`${settingsOf(d)}/blocklist`, { _csrf: csrfOf(page.body), identifier: '@Blocked.Example.NET' })
    assert.equal(blocked.statusCode, 303, blocked.body)
    const after = await d.op.follow(blocked)
    assert.match(textOf(after.body), /The identifier was added to the blocklist\./)
    assert.match(after.body, new RegExp(`<td class="mono">${allowed.replaceAll('.', '\\.')}</td>`))
    assert.match(after.body, /<td class="mono">\*@blocked\.example\.net<\/td>/)

    const [entryBlocked] = await entries(d, 'blocklist')
    const removed = await d.op.post(`${settingsOf(d)}/blocklist/${entryBlocked!.id}/delete`, { _csrf: csrfOf(after.body) })
    assert.equal(removed.statusCode, 303)
    assert.deepEqual(await entries(d, 'blocklist'), [])
    assert.match(textOf((await d.op.follow(removed)).body), /The identifier was removed from the blocklist\./)
  })

  it('refuses a bad or duplicate identifier inline on its card, keeping what was typed, escaped', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const page = await d.op.get(settingsOf(d))
    const typed = '<script>alert(1)</script>'
    const bad = await d.op.post(`${settingsOf(d)}/blocklist`, { _csrf: csrfOf(page.body), identifier: typed })
    assert.equal(bad.statusCode, 422)
    assert.ok(!bad.body.includes(typed), 'what was typed is escaped')
    assert.match(bad.body, /value="&lt;script&gt;alert\(1\)&lt;\/script&gt;"/)
    assert.match(textOf(bad.body), /identifier must be an email address, or a domain written \*@example\.com\./)

    const email = uniqueEmail('dash.dup')
    assert.equal((await d.op.post(`${settingsOf(d)}/allowlist`, { _csrf: csrfOf(page.body), identifier: email })).statusCode, 303)
    const dup = await d.op.post(`${settingsOf(d)}/allowlist`, { _csrf: csrfOf(page.body), identifier: email })
    assert.equal(dup.statusCode, 400)
    assert.match(textOf(dup.body), /is already on the allowlist/)
    assert.equal((await entries(d, 'allowlist')).length, 1)
    assert.equal((await entries(d, 'allowlist'))[0]?.invitation_id, undefined, 'no invitation without notify')
  })

  it('refuses an add or a delete without a valid CSRF token (403), changing nothing', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const page = await d.op.get(settingsOf(d))
    assert.equal((await d.op.post(`${settingsOf(d)}/allowlist`, { identifier: uniqueEmail('nocsrf') })).statusCode, 403)
    assert.equal((await d.op.post(`${settingsOf(d)}/blocklist`, { _csrf: 'forged', identifier: uniqueEmail('nocsrf') })).statusCode, 403)
    assert.equal((await d.op.post(`${settingsOf(d)}/blocklist`, { _csrf: csrfOf(page.body), identifier: uniqueEmail('kept') })).statusCode, 303)
    const [entry] = await entries(d, 'blocklist')
    assert.equal((await d.op.post(`${settingsOf(d)}/blocklist/${entry!.id}/delete`, {})).statusCode, 403)
    assert.equal((await entries(d, 'blocklist')).length, 1)
  })
})
