import { after, before, it } from 'node:test'
import assert from 'node:assert/strict'
import { forEachDatabase } from '../helpers/databases.js'
import { textOf } from '../pages/page-client.js'
import { startSmtpSink, type SmtpSink } from '../email/smtp-sink.js'
import { dashboardApp, OPERATOR_EMAIL, type Dashboard } from './dashboard-client.js'
import { changeAccess, newMember } from './team-client.js'

interface Row { action: string; actor_type: string; actor_id: string | null; target_id: string | null; changed_keys: string[] | null; instance_id: string | null }

forEachDatabase('dashboard team audit log', (engine) => {
  let sink: SmtpSink
  before(async () => { sink = await startSmtpSink() })
  after(() => sink.stop())
  const app = async (t: { after(fn: () => Promise<void>): void }) => {
    const d = await dashboardApp(engine, { env: { SMTP_URL: `smtp://127.0.0.1:${sink.port}` } })
    t.after(() => d.t.close())
    return d
  }
  const records = (d: Dashboard) => d.t.db.query<Row>('select action, actor_type, actor_id, target_id, changed_keys, instance_id from audit_log_entries where instance_id is null order by created_at, seq')
  const unique = (name: string) => `${name}.${Date.now()}.${Math.random().toString(36).slice(2, 8)}@example.com`

  it('records operators\' changes to the team, as the operator who made them; a refused change leaves none; owners alone read them', async (t) => {
    const d = await app(t)
    const [me] = await d.t.db.query<{ id: string }>('select id from operators where email_address = $1', [OPERATOR_EMAIL])
    const before = (await records(d)).length

    // The last owner's demotion is refused, and leaves no record of it.
    assert.equal((await changeAccess(d, me!.id, { role: 'admin' })).statusCode, 422)
    assert.equal((await records(d)).filter((r) => r.action === 'operator.role_changed').length, 0)

    const email = unique('ada')
    const ada = await newMember(d, sink, email, { role: 'admin' })
    assert.equal((await changeAccess(d, ada.id, { role: 'viewer', instanceIds: [d.instanceId] })).statusCode, 303)
    const seen = (await records(d)).slice(before)
    const byAction = new Map(seen.map((r) => [r.action, r]))
    assert.deepEqual(seen.map((r) => r.action).filter((a) => a.startsWith('operator.') && a !== 'operator.signed_in'), ['operator.invited', 'operator.joined', 'operator.role_changed'])
    assert.equal(byAction.get('operator.invited')!.actor_id, me!.id)
    // The accept page is open to anyone: the person joining is named as who acted.
    assert.deepEqual([byAction.get('operator.joined')!.actor_type, byAction.get('operator.joined')!.actor_id], ['operator', ada.id])
    assert.deepEqual(byAction.get('operator.role_changed')!.changed_keys, ['role', 'instances'])
    assert.equal(byAction.get('operator.role_changed')!.target_id, ada.id)

    // Signing out is recorded as the operator who did it.
    const signOut = await ada.b.post('/dashboard/sign-out', { _csrf: /name="_csrf" value="([^"]+)"/.exec((await ada.b.get(`/dashboard/${d.instanceId}/invitations`)).body)![1]! })
    assert.equal(signOut.statusCode, 303)
    const out = (await records(d)).filter((r) => r.action === 'operator.signed_out')
    assert.deepEqual(out.map((r) => [r.actor_type, r.actor_id]), [['operator', ada.id]])

    // The owners' page lists them, filters by action, and exports them.
    const page = await d.op.get('/dashboard/audit?action=operator.role_changed')
    assert.equal(page.statusCode, 200)
    assert.match(textOf(page.body), /operator\.role_changed changed: role, instances/)
    assert.doesNotMatch(textOf(page.body), /operator\.invited/)
    const csv = await d.op.get('/dashboard/audit.csv')
    assert.equal(csv.statusCode, 200)
    assert.match(csv.body, /operator\.joined/)
    // No instance's log shows them, and no instance's key reads them.
    const instancePage = await d.op.get(`/dashboard/${d.instanceId}/audit`)
    assert.doesNotMatch(textOf(instancePage.body), /operator\.joined/)
  })

  it('an admin or a viewer may not read the team\'s log (403); sign-ins and one-time codes are recorded', async (t) => {
    const d = await app(t)
    const viewer = await newMember(d, sink, unique('vic'), { role: 'viewer' })
    const admin = await newMember(d, sink, unique('adm'), { role: 'admin' })
    for (const who of [viewer, admin]) {
      assert.equal((await who.b.get('/dashboard/audit')).statusCode, 403)
      assert.equal((await who.b.get('/dashboard/audit.csv')).statusCode, 403)
    }
    const signIns = (await records(d)).filter((r) => r.action === 'operator.signed_in')
    assert.ok(signIns.length >= 1, 'the first operator\'s sign-in is recorded')
    assert.ok(signIns.every((r) => r.actor_type === 'operator' && r.actor_id !== null && r.target_id?.startsWith('opss_')))
  })
})
