import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { buildTestApp, client, uniqueEmail, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { makeInvitation } from '../helpers/factories.js'
import { fapi, ticketOf } from '../frontend/fapi-client.js'
import { dashboardApp, formFields } from '../dashboard/dashboard-client.js'
import { browser } from '../pages/page-client.js'
import { DAY_MS } from '../../src/platform/clock.js'
import { createOutboxStore } from '../../src/platform/outbox/outbox.store.js'
import pg from 'pg'

interface AuditLog {
  id: string
  action: string
  actor: { type: string; id: string | null; label: string | null }
  target: { type: string | null; id: string | null; label: string | null }
  changed_keys: string[] | null
  client_ip: string | null
  trace_id: string | null
  created_at: number
}

const keyIdOf = async (t: TestApp, instanceId: string) =>
  (await t.db.query<{ id: string; hint: string }>('select id, hint from secret_keys where instance_id = $1', [instanceId]))[0]!

forEachDatabase('audit log', (engine) => {
  describe('the Backend API', () => {
    let t: TestApp
    before(async () => {
      t = await buildTestApp({ engine })
    })
    after(() => t.close())

    it('records each change with the secret key\'s id (never the key), the target, the IP and the trace id', async () => {
      const { instance, secretKey } = await t.newInstance()
      const api = client(t.app, secretKey)
      const key = await keyIdOf(t, instance.id)
      const created = await api.post('/v1/invitations', { email_address: uniqueEmail(), notify: false })
      assert.equal(created.status, 200, JSON.stringify(created.body))
      const revoked = await api.post(`/v1/invitations/${created.body.id}/revoke`)
      assert.equal(revoked.status, 200)
      const endpoint = await api.post('/v1/webhooks/endpoints', { url: 'https://hooks.example.com/a' })
      assert.equal(endpoint.status, 200)
      const user = await api.post('/v1/users', { email_address: [uniqueEmail('user')], public_metadata: { plan: 'free', seats: 3 } })
      assert.equal(user.status, 200, JSON.stringify(user.body))
      const merged = await api.patch(`/v1/users/${user.body.id}/metadata`, { public_metadata: { plan: 'pro' }, private_metadata: { secret_note: 'do not log me' } })
      assert.equal(merged.status, 200, JSON.stringify(merged.body))
      const settings = await api.patch('/v1/instance', { sign_up_mode: 'restricted' })
      assert.equal(settings.status, 200, JSON.stringify(settings.body))

      const res = await api.get('/v1/audit_logs?limit=50')
      assert.equal(res.status, 200, JSON.stringify(res.body))
      const logs = res.body.data as AuditLog[]
      assert.equal(res.body.total_count, logs.length)
      const actions = logs.map((l) => l.action)
      assert.deepEqual(actions, ['instance.updated', 'user.updated', 'user.created', 'webhook_endpoint.created', 'invitation.revoked', 'invitation.created', 'instance.created'], 'newest first')
      assert.deepEqual(logs.pop()!.actor, { type: 'system', id: null, label: null }, 'the instance was made outside any request')
      for (const log of logs) {
        assert.deepEqual(log.actor, { type: 'api_key', id: key.id, label: key.hint })
        assert.ok(log.trace_id && log.client_ip, 'trace id and client IP are kept')
        assert.ok(!JSON.stringify(log).includes(secretKey), 'the key itself is never recorded')
      }
      const inv = logs.find((l) => l.action === 'invitation.revoked')!
      assert.deepEqual(inv.target, { type: 'invitation', id: created.body.id, label: created.body.email_address })
      assert.equal(revoked.headers['x-clerk-trace-id'] ?? inv.trace_id, inv.trace_id)
      assert.deepEqual(logs.find((l) => l.action === 'user.created')!.target, { type: 'user', id: user.body.id, label: user.body.email_addresses[0].email_address }, 'a user reads as their primary address')
      assert.deepEqual(logs.find((l) => l.action === 'webhook_endpoint.created')!.target.id, endpoint.body.id)
      const meta = logs.find((l) => l.action === 'user.updated')!
      assert.deepEqual(meta.changed_keys, ['public_metadata.plan', 'private_metadata.secret_note'], 'which keys changed')
      assert.ok(!JSON.stringify(meta).includes('do not log me') && !JSON.stringify(meta).includes('pro'), 'never their values')
      assert.deepEqual(logs.find((l) => l.action === 'instance.updated')!.changed_keys, ['sign_up_mode'])

      // The context rides to the outbox trigger and is taken out before the event is stored.
      const payloads = await t.db.query<{ payload: Record<string, unknown> }>('select payload from outbox where instance_id = $1 and kind = \'webhook\'', [instance.id])
      assert.ok(payloads.length > 0)
      for (const { payload } of payloads) assert.equal(payload.foyer_audit, undefined, 'no receiver sees the audit context')
    })

    it('records an event queued without the application\'s context as the system\'s, with its target read from the event, once however often it is queued', async () => {
      const { instance } = await t.newInstance()
      const data = { object: 'invitation', id: 'inv_queuedbyhand', email_address: 'by.hand@example.com' }
      // Twice, as a re-run queues an event again under its own id: one event, one record, no error.
      for (let i = 0; i < 2; i++) {
        await t.db.query(`insert into outbox (id, instance_id, kind, topic, subject_id, payload, next_attempt_at, created_at, updated_at)
          values ('evt_queuedbyhand', $1, 'webhook', 'invitation.revoked', 'inv_queuedbyhand', $2, 1, 1, 1) on conflict (id) do nothing`, [instance.id, JSON.stringify({ data })])
      }
      const rows = await t.db.query<Record<string, unknown>>('select actor_type, actor_id, target_type, target_id, target_label, client_ip from audit_log_entries where id = $1', ['aud_queuedbyhand'])
      assert.deepEqual(rows.map((r) => ({ ...r })), [{ actor_type: 'system', actor_id: null, target_type: 'invitation', target_id: 'inv_queuedbyhand', target_label: 'by.hand@example.com', client_ip: null }])
    })

    it('filters by actor, action, target and time, pages, and refuses bad filters naming the parameter', async () => {
      const { instance, secretKey } = await t.newInstance()
      const api = client(t.app, secretKey)
      const key = await keyIdOf(t, instance.id)
      const first = await makeInvitation(api)
      t.clock.advance(1000)
      const second = await makeInvitation(api)
      await api.post(`/v1/invitations/${second.id}/revoke`)

      assert.deepEqual((await api.get('/v1/audit_logs?action=invitation.created')).body.data.map((l: AuditLog) => l.target.id), [second.id, first.id])
      assert.deepEqual((await api.get(`/v1/audit_logs?target_id=${second.id}`)).body.data.map((l: AuditLog) => l.action), ['invitation.revoked', 'invitation.created'])
      assert.equal((await api.get(`/v1/audit_logs?actor_id=${key.id}`)).body.total_count, 3)
      assert.equal((await api.get('/v1/audit_logs?actor_id=key_nobody')).body.total_count, 0)
      const all = (await api.get('/v1/audit_logs')).body.data as AuditLog[]
      const secondAt = all.find((l) => l.target.id === second.id)!.created_at
      assert.deepEqual((await api.get(`/v1/audit_logs?action=invitation.created&created_before=${secondAt}`)).body.data.map((l: AuditLog) => l.target.id), [first.id])
      assert.equal((await api.get(`/v1/audit_logs?created_after=${secondAt}`)).body.total_count, 2)
      const page = await api.get('/v1/audit_logs?limit=1&offset=1')
      assert.equal(page.body.total_count, 4, 'with the instance\'s own creation')
      assert.deepEqual(page.body.data.map((l: AuditLog) => l.id), [all[1]!.id])

      for (const [query, param] of [['limit=0', 'limit'], ['created_after=soon', 'created_after'], ['colour=red', 'colour'], [`created_after=${secondAt}&created_before=${secondAt}`, 'created_before']]) {
        const bad = await api.get(`/v1/audit_logs?${query}`)
        assert.equal(bad.status, 422, query)
        assert.equal(bad.body.errors[0].meta.param_name, param, query)
      }
      const doc = JSON.parse((await t.app.inject({ method: 'GET', url: '/v1/openapi.json' })).body)
      assert.ok(doc.paths['/v1/audit_logs']?.get, 'GET /v1/audit_logs is in the served OpenAPI')
      assert.match(doc.paths['/v1/audit_logs'].get.description, /^Foyer extension/)
      // Another instance's key sees none of these.
      const other = client(t.app, (await t.newInstance()).secretKey)
      assert.equal((await other.get(`/v1/audit_logs?target_id=${second.id}`)).body.total_count, 0)
    })

    it('a change that fails leaves no audit record', async () => {
      const { instance, secretKey } = await t.newInstance()
      const api = client(t.app, secretKey)
      const inv = await makeInvitation(api)
      assert.equal((await api.post(`/v1/invitations/${inv.id}/revoke`)).status, 200)
      assert.equal((await api.post(`/v1/invitations/${inv.id}/revoke`)).status, 400, 'revoked already')
      assert.equal((await api.post('/v1/invitations', { email_address: inv.email_address.toUpperCase(), notify: false })).status, 200)
      // A duplicate allowlist entry fails inside the transaction that would have recorded it.
      assert.equal((await api.post('/v1/allowlist_identifiers', { identifier: 'dup@example.com' })).status, 200)
      assert.equal((await api.post('/v1/allowlist_identifiers', { identifier: 'dup@example.com' })).status, 400)
      // All or nothing: the first address of the bulk is inserted, with its record, before the
      // second is refused; the rollback takes the record with the invitation.
      const fresh = uniqueEmail('bulk')
      const bulk = await api.post('/v1/invitations/bulk', [{ email_address: fresh, notify: false }, { email_address: inv.email_address, notify: false }])
      assert.equal(bulk.status, 400, JSON.stringify(bulk.body))
      assert.equal((await api.get(`/v1/invitations?query=${encodeURIComponent(fresh)}`)).body.length, 0)
      const rows = await t.db.query<{ action: string }>('select action from audit_log_entries where instance_id = $1 order by seq', [instance.id])
      assert.deepEqual(rows.map((r) => r.action).sort(), ['allowlist_identifier.created', 'instance.created', 'invitation.created', 'invitation.created', 'invitation.revoked'])
    })

    // Records ride in their events' outbox rows until the worker claims them (migration 035).
    it('a record rides in its event until the claim moves it into the log: once, in the order the changes were made', async () => {
      const { instance, secretKey } = await t.newInstance()
      const api = client(t.app, secretKey)
      await t.outboxWorker.drain()
      const made: string[] = []
      for (let i = 0; i < 5; i++) made.push((await makeInvitation(api)).id)
      assert.equal((await api.post(`/v1/invitations/${made[2]}/revoke`)).status, 200)
      const expected = ['invitation.revoked', ...made.map(() => 'invitation.created')]
      const listed = async () => ((await api.get('/v1/audit_logs?limit=50')).body.data as AuditLog[])
        .filter((l) => l.target.type === 'invitation').map((l) => `${l.action} ${l.target.id}`)
      const before = await listed()
      assert.deepEqual(before, [`invitation.revoked ${made[2]}`, ...[...made].reverse().map((id) => `invitation.created ${id}`)], 'newest first while riding')
      const riding = await t.db.query<{ n: number }>('select count(*)::int as n from outbox where instance_id = $1 and audit is not null', [instance.id])
      assert.equal(riding[0]!.n, expected.length)
      const stored = async () => t.db.query<{ action: string; target_id: string }>('select action, target_id from audit_logs where instance_id = $1 and target_type = \'invitation\' order by seq', [instance.id])
      assert.deepEqual(await stored(), [], 'nothing in the table yet')

      await t.outboxWorker.drain()
      assert.deepEqual(await listed(), before, 'the same log once moved')
      assert.deepEqual((await stored()).map((r) => `${r.action} ${r.target_id}`), [...before].reverse(), 'in the order the changes were made')
      const left = await t.db.query<{ n: number }>('select count(*)::int as n from outbox where instance_id = $1 and audit is not null', [instance.id])
      assert.equal(left[0]!.n, 0)
      const payloads = await t.db.query<{ payload: Record<string, unknown> }>('select payload from outbox where instance_id = $1 and kind = \'webhook\'', [instance.id])
      assert.ok(payloads.length > 0 && payloads.every((p) => !('foyer_audit' in p.payload)), 'no receiver sees the context')
      // A claim that runs again (its process died after claiming) moves nothing twice.
      await t.db.query('update outbox set status = \'pending\' where instance_id = $1 and kind = \'webhook\'', [instance.id])
      await t.outboxWorker.drain()
      assert.equal((await stored()).length, expected.length)
    })

    it('erasing a person while their records ride keeps the records and forgets the address', async () => {
      const { instance, secretKey } = await t.newInstance()
      const api = client(t.app, secretKey)
      const address = uniqueEmail('riding')
      // An invitation deleted before any worker claimed its event: the record is moved as its row goes.
      const gone = await makeInvitation(api, { email_address: address })
      assert.equal((await api.delete(`/v1/invitations/${gone.id}`)).status, 200)
      // A user with the address, and an organization invitation to it, both still riding when the user is deleted.
      const user = await api.post('/v1/users', { email_address: [address] })
      assert.equal(user.status, 200, JSON.stringify(user.body))
      const org = await api.post('/v1/organizations', { name: 'Riders' })
      assert.equal(org.status, 200, JSON.stringify(org.body))
      const orgInv = await api.post(`/v1/organizations/${org.body.id}/invitations`, { email_address: address, role: 'org:member', notify: false })
      assert.equal(orgInv.status, 200, JSON.stringify(orgInv.body))
      assert.equal((await api.delete(`/v1/users/${user.body.id}`)).status, 200)

      const about = async () => t.db.query<{ action: string; target_label: string | null }>(
        'select action, target_label from audit_log_entries where instance_id = $1 and target_id = any($2::text[]) order by seq',
        [instance.id, [gone.id, user.body.id, orgInv.body.id]])
      for (const when of ['riding', 'moved']) {
        assert.deepEqual(await about(), ['invitation.created', 'user.created', 'organizationInvitation.created', 'user.deleted']
          .map((action) => ({ action, target_label: null })), `${when}: every record kept, none with the address`)
        await t.outboxWorker.drain()
      }
    })

    it('an erasure that meets a claim moving the person\'s record waits for it, then erases the address in the log', async (ctx) => {
      if (engine !== 'postgres' || t.databaseUrl === null) return ctx.skip('PGlite has one connection: no claim runs beside an erasure')
      const { instance, secretKey } = await t.newInstance()
      const api = client(t.app, secretKey)
      const address = uniqueEmail('race')
      const user = await api.post('/v1/users', { email_address: [address] })
      assert.equal(user.status, 200, JSON.stringify(user.body))
      const org = await api.post('/v1/organizations', { name: 'Racers' })
      assert.equal(org.status, 200, JSON.stringify(org.body))
      await t.outboxWorker.drain()
      const inv = (await api.post(`/v1/organizations/${org.body.id}/invitations`, { email_address: address, role: 'org:member', notify: false })).body
      // Another process's worker claims the invitation's event, moving its record (with the
      // address) into the log, and has not committed yet when the user is deleted.
      const other = new pg.Client({ connectionString: t.databaseUrl })
      await other.connect()
      try {
        await other.query('begin')
        const queryable = { query: async (sql: string, params?: readonly unknown[]) => (await other.query(sql, params as unknown[])).rows }
        const claimed = await createOutboxStore().claim(queryable as never, ['webhook'], Date.now(), Date.now() + 60_000, 100)
        assert.ok(claimed.some((row) => row.subject_id === inv.id), 'the invitation\'s event is claimed')
        const deleting = api.delete(`/v1/users/${user.body.id}`)
        await new Promise((resolve) => setTimeout(resolve, 300))
        await other.query('commit')
        assert.equal((await deleting).status, 200)
      } finally {
        await other.end()
      }
      const rows = await t.db.query<{ action: string; target_label: string | null }>(
        'select action, target_label from audit_log_entries where instance_id = $1 and target_id = $2', [instance.id, inv.id])
      assert.deepEqual(rows, [{ action: 'organizationInvitation.created', target_label: null }])
    })

    it('cannot be changed or deleted, except by retention and erasure', async () => {
      const { instance, secretKey } = await t.newInstance()
      const api = client(t.app, secretKey)
      const inv = await makeInvitation(api)
      // The same address, written differently, in another instance: its person is not erased here.
      const other = await t.newInstance()
      const elsewhere = await makeInvitation(client(t.app, other.secretKey), { email_address: inv.email_address.toUpperCase() })
      // The records ride in their events' outbox rows until the worker claims them (migration 035).
      await t.outboxWorker.drain()
      await assert.rejects(t.db.query('update audit_logs set action = \'nothing\' where instance_id = $1', [instance.id]), /cannot be changed or deleted/)
      await assert.rejects(t.db.query('delete from audit_logs where instance_id = $1', [instance.id]), /cannot be changed or deleted/)

      // Deleting the invitation erases the person: the record stays, without their address.
      assert.equal((await api.delete(`/v1/invitations/${inv.id}`)).status, 200)
      const kept = await t.db.query<{ action: string; target_label: string | null }>('select action, target_label from audit_log_entries where instance_id = $1 and target_id = $2', [instance.id, inv.id])
      assert.deepEqual(kept.map((r) => r.action).sort(), ['invitation.created'], 'the record is kept')
      assert.equal(kept[0]!.target_label, null, 'the address is gone')
      const untouched = await t.db.query<{ target_label: string | null }>('select target_label from audit_log_entries where instance_id = $1 and target_id = $2', [other.instance.id, elsewhere.id])
      assert.deepEqual(untouched.map((r) => r.target_label), [elsewhere.email_address], "another instance's record keeps it")

      // Retention: nothing younger than a year goes; a year and a day later it does.
      await t.retention.runOnce()
      assert.equal((await t.db.query('select 1 from audit_log_entries where instance_id = $1', [instance.id])).length, 2)
      t.clock.advance(366 * DAY_MS)
      await t.retention.runOnce()
      assert.equal((await t.db.query('select 1 from audit_log_entries where instance_id = $1', [instance.id])).length, 0)
    })
  })

  it('the hosted pages and Frontend API record the user (anonymous with the IP before there is one)', async (t) => {
    const app = await buildTestApp({ engine })
    t.after(() => app.close())
    const { instance, secretKey } = await app.newInstance()
    const api = client(app.app, secretKey)
    const inv = await makeInvitation(api)
    const f = fapi(app.app)
    const signedUp = await f.post('/v1/client/sign_ups', { strategy: 'ticket', ticket: ticketOf(inv), password: 'correct horse battery' }, { instance: instance.id, form: true })
    assert.equal(signedUp.status, 200, JSON.stringify(signedUp.body))
    const rows = await app.db.query<{ action: string; actor_type: string; actor_id: string | null; client_ip: string | null }>(
      'select action, actor_type, actor_id, client_ip from audit_log_entries where instance_id = $1 and actor_type not in (\'api_key\', \'system\') order by seq', [instance.id])
    const userId = (await app.db.query<{ id: string }>('select id from users where instance_id = $1', [instance.id]))[0]!.id
    const actions = rows.map((r) => r.action)
    for (const action of ['user.created', 'invitation.accepted', 'session.created']) assert.ok(actions.includes(action), `${action} in ${actions.join(', ')}`)
    for (const row of rows) {
      assert.equal(row.actor_type, 'user', row.action)
      assert.equal(row.actor_id, userId, row.action)
      assert.ok(row.client_ip, row.action)
    }
  })

  it('the hosted pages record an anonymous visitor by IP, and a signed-in person as their user and session', async (t) => {
    const app = await buildTestApp({ engine })
    t.after(() => app.close())
    const { instance, secretKey } = await app.newInstance()
    const api = client(app.app, secretKey)
    assert.equal((await api.patch('/v1/instance', { sign_up_mode: 'waitlist' })).status, 200)
    const visitor = browser(app.app)
    const page = await visitor.get(`/sign-up?instance=${instance.id}`)
    assert.equal((await visitor.submit(page, { email_address: uniqueEmail('waiting') })).statusCode, 200)
    const [joined] = await app.db.query<{ actor_type: string; actor_id: string | null; client_ip: string; target_label: string }>(
      'select actor_type, actor_id, client_ip, target_label from audit_log_entries where instance_id = $1 and action = \'waitlist_entry.created\'', [instance.id])
    assert.deepEqual({ ...joined, target_label: undefined }, { actor_type: 'anonymous', actor_id: null, client_ip: visitor.remoteAddress, target_label: undefined })

    // Someone signed in signs out: the session's end is theirs.
    assert.equal((await api.patch('/v1/instance', { sign_up_mode: 'public' })).status, 200)
    const inv = await makeInvitation(api)
    const person = browser(app.app)
    const landing = await person.follow(await person.get(inv.url))
    assert.equal((await person.submit(landing, { password: 'correct horse battery' })).statusCode, 303)
    const signOut = await person.get('/sign-out')
    assert.equal((await person.submit(signOut)).statusCode, 200)
    const userId = (await app.db.query<{ id: string }>('select id from users where instance_id = $1', [instance.id]))[0]!.id
    const [ended] = await app.db.query<{ actor_type: string; actor_id: string; actor_label: string; client_ip: string }>(
      'select actor_type, actor_id, actor_label, client_ip from audit_log_entries where instance_id = $1 and action = \'session.ended\'', [instance.id])
    assert.equal(ended?.actor_type, 'user')
    assert.equal(ended.actor_id, userId)
    assert.match(ended.actor_label, /^sess_/)
    assert.equal(ended.client_ip, person.remoteAddress)
  })

  it('the dashboard records the operator', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const api = client(d.t.app, d.secretKey)
    const inv = await makeInvitation(api)
    const revoked = await d.submit(`/dashboard/${d.instanceId}/invitations?q=${inv.id}`, `/dashboard/${d.instanceId}/invitations/${inv.id}/revoke`)
    assert.equal(revoked.statusCode, 303, revoked.body)
    const settings = `/dashboard/${d.instanceId}/settings`
    const page = await d.op.get(settings)
    const rolled = await d.op.post(`${settings}/keys/roll`, { ...formFields(page.body, `${settings}/keys/roll`), grace_period: '0' })
    assert.equal(rolled.statusCode, 303, rolled.body)
    const operatorId = (await d.t.db.query<{ id: string }>('select id from operators'))[0]!.id
    const rows = await d.t.db.query<{ action: string; actor_type: string; actor_id: string; actor_label: string; client_ip: string }>(
      'select action, actor_type, actor_id, actor_label, client_ip from audit_log_entries where instance_id = $1 and actor_type = \'operator\' order by seq', [d.instanceId])
    assert.deepEqual(rows.map((r) => r.action), ['invitation.revoked', 'secret_key.rolled'])
    for (const row of rows) {
      assert.equal(row.actor_id, operatorId)
      assert.equal(row.actor_label, 'ops@example.com')
      assert.equal(row.client_ip, d.op.remoteAddress)
    }
  })
})
