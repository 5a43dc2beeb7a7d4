import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { buildTestApp, client, uniqueEmail, type Client, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { assertMatchesSpec, webhookEventValidator } from '../helpers/spec.js'
import { startReceiver } from '../webhooks/receiver.js'
import { invite, setupOrg } from '../organizations/org-invitations.fixtures.js'
import { DAY_MS } from '../../src/platform/clock.js'
import { openDb } from '../../src/platform/db/db.js'
import { createExpirySweep } from '../../src/invitations/expiry-sweep.js'
import { createInvitationStore } from '../../src/invitations/invitations.store.js'
import { createOrgInvitationStore } from '../../src/organizations/org-invitations.store.js'
import { createOutboxStore } from '../../src/platform/outbox/outbox.store.js'

const EXPIRY_EVENTS = ['invitation.expired', 'organizationInvitation.expired']

forEachDatabase('invitation expiry events and reminders', (engine) => {
  let t: TestApp
  before(async () => {
    t = await buildTestApp({ engine })
  })
  after(() => t.close())

  /** A new instance whose one endpoint, at a new receiver, takes the expiry events. */
  async function setupReceiver(api: Client) {
    let secret = ''
    const receiver = await startReceiver(() => secret)
    const res = await api.post('/v1/webhooks/endpoints', { url: receiver.url, event_types: EXPIRY_EVENTS })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    secret = res.body.secret
    return receiver
  }
  const events = (receiver: Awaited<ReturnType<typeof setupReceiver>>) => receiver.received.map((r) => {
    assert.ok(r.verified.ok, `svix verification failed: ${JSON.stringify(r.verified)}`)
    return JSON.parse(r.body)
  })
  /** Sweeps, then sends what the sweep queued (fan-out, then delivery). */
  const sweepAndDeliver = async () => {
    await t.expirySweep.runOnce()
    for (let i = 0; i < 3; i++) await t.outboxWorker.drain()
  }
  const inviteApp = async (api: Client, body: Record<string, unknown> = {}) => {
    const res = await api.post('/v1/invitations', { email_address: uniqueEmail('invitee'), notify: false, ...body })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    return res.body
  }
  /** The email items queued for an invitation, by template, as its delivery history shows them. */
  const history = async (api: Client, id: string) => {
    const res = await api.get(`/v1/invitations/${id}/emails`)
    assert.equal(res.status, 200, JSON.stringify(res.body))
    return res.body.data as { template_slug: string; status: string; skipped_reason: string | null }[]
  }
  const reminders = async (invitationId: string) =>
    (await t.db.query<{ id: string }>(`select id from dev_mailbox_messages where subject_id = $1 and template_slug like '%reminder'`, [invitationId])).length

  describe('invitation.expired', () => {
    it('goes out once when a pending invitation reaches its expiry, as Clerk\'s Invitation with status expired', async (ctx) => {
      const { secretKey } = await t.newInstance()
      const api = client(t.app, secretKey)
      const receiver = await setupReceiver(api)
      ctx.after(receiver.close)
      const inv = await inviteApp(api, { expires_in_days: 1 })
      const kept = await inviteApp(api, { expires_in_days: 3 })
      const revoked = await inviteApp(api, { expires_in_days: 1 })
      assert.equal((await api.post(`/v1/invitations/${revoked.id}/revoke`)).status, 200)

      await sweepAndDeliver()
      assert.equal(receiver.received.length, 0, 'nothing is due before the expiry')
      t.clock.advance(DAY_MS)
      await sweepAndDeliver()
      await sweepAndDeliver()

      const [expired, ...more] = events(receiver)
      assert.equal(more.length, 0, 'exactly one event: a second sweep sends nothing, and a revoked invitation never expires')
      assert.equal(expired.type, 'invitation.expired')
      assert.equal(expired.object, 'event')
      const listed = (await api.get('/v1/invitations?status=expired')).body
      assert.deepEqual(expired.data, listed.find((i: { id: string }) => i.id === inv.id))
      assert.equal(expired.data.status, 'expired')
      assert.equal(expired.data.url, inv.url)
      assert.equal(listed.some((i: { id: string }) => i.id === kept.id), false)
    })

    it('goes out once for an invitation that expired while Foyer was down, at the first sweep after', async (ctx) => {
      const { secretKey } = await t.newInstance()
      const api = client(t.app, secretKey)
      const receiver = await setupReceiver(api)
      ctx.after(receiver.close)
      const inv = await inviteApp(api, { expires_in_days: 1 })
      // No sweep ran while the time passed: a process that was stopped for ten days.
      t.clock.advance(10 * DAY_MS)
      await sweepAndDeliver()
      await sweepAndDeliver()
      const received = events(receiver)
      assert.deepEqual(received.map((e) => [e.type, e.data.id]), [['invitation.expired', inv.id]])
    })

    it('follows the instance\'s own test clock: moved past the expiry, the next sweep announces it', async (ctx) => {
      const { secretKey } = await t.newInstance()
      const api = client(t.app, secretKey)
      const receiver = await setupReceiver(api)
      ctx.after(receiver.close)
      const inv = await inviteApp(api, { expires_in_days: 2 })
      assert.equal((await api.post('/v1/testing/clock', { advance_ms: 2 * DAY_MS })).status, 200)
      await sweepAndDeliver()
      assert.deepEqual(events(receiver).map((e) => [e.type, e.data.id, e.data.status]), [['invitation.expired', inv.id, 'expired']])
    })

    it('goes out again for a re-issued invitation that expires again', async (ctx) => {
      const { secretKey } = await t.newInstance()
      const api = client(t.app, secretKey)
      const receiver = await setupReceiver(api)
      ctx.after(receiver.close)
      const inv = await inviteApp(api, { expires_in_days: 1 })
      t.clock.advance(DAY_MS)
      await sweepAndDeliver()
      assert.equal((await api.post(`/v1/invitations/${inv.id}/resend`, { expires_in_days: 1 })).status, 200)
      await sweepAndDeliver()
      assert.equal(receiver.received.length, 1, 'the re-issued invitation is pending again')
      t.clock.advance(DAY_MS)
      await sweepAndDeliver()
      assert.deepEqual(events(receiver).map((e) => e.type), ['invitation.expired', 'invitation.expired'])
    })
  })

  describe('organizationInvitation.expired', () => {
    it('goes out once, as Clerk\'s OrganizationInvitation with status expired', async (ctx) => {
      const s = await setupOrg(t)
      const receiver = await setupReceiver(s.api)
      ctx.after(receiver.close)
      const inv = await invite(s.api, s.orgId, { inviter_user_id: s.admin.id, expires_in_days: 2 })
      t.clock.advance(DAY_MS)
      await sweepAndDeliver()
      assert.equal(receiver.received.length, 0)
      t.clock.advance(DAY_MS)
      await sweepAndDeliver()
      await sweepAndDeliver()
      const [expired, ...more] = events(receiver)
      assert.equal(more.length, 0)
      // Clerk has no expired event; its shape is the other organization invitation events'.
      assertMatchesSpec(webhookEventValidator('organizationInvitation.revoked'), expired, 'organizationInvitation.expired')
      assert.equal(expired.type, 'organizationInvitation.expired')
      const read = await s.api.get(`/v1/organizations/${s.orgId}/invitations/${inv.id}`)
      assert.equal(read.status, 200)
      assert.deepEqual(expired.data, read.body)
      assert.equal(expired.data.status, 'expired')
    })
  })

  it('two processes sweeping the same database at once send each expiry event once', async (ctx) => {
    const { secretKey } = await t.newInstance()
    const api = client(t.app, secretKey)
    const s = await setupOrg(t)
    const ids = [...await Promise.all(Array.from({ length: 10 }, () => inviteApp(api, { expires_in_days: 1 }))),
      ...await Promise.all(Array.from({ length: 10 }, () => invite(s.api, s.orgId, { expires_in_days: 1 })))].map((i) => i.id)
    t.clock.advance(DAY_MS)
    // Another process: its own pool on the same PostgreSQL database (PGlite has one process only).
    const otherDb = t.databaseUrl ? await openDb({ databaseUrl: t.databaseUrl, dataDir: null }) : t.db
    ctx.after(() => (otherDb === t.db ? undefined : otherDb.close()))
    const other = createExpirySweep({
      db: otherDb, clock: t.clock, invitations: createInvitationStore(), orgInvitations: createOrgInvitationStore(), outbox: createOutboxStore(), batchSize: 3,
    })
    await Promise.all([t.expirySweep.runOnce(), other.runOnce(), t.expirySweep.runOnce(), other.runOnce()])
    await other.runOnce()
    const rows = await t.db.query<{ subject_id: string; topic: string }>(
      `select subject_id, topic from outbox where kind = 'webhook' and topic like '%.expired' and subject_id = any($1::text[])`, [ids])
    assert.equal(rows.length, ids.length)
    assert.equal(new Set(rows.map((r) => r.subject_id)).size, ids.length)
  })

  describe('reminders', () => {
    /** An instance that reminds `days` before expiry. */
    async function remindingApi(days: number) {
      const { secretKey } = await t.newInstance()
      const api = client(t.app, secretKey)
      const res = await api.patch('/v1/instance', { remind_before_expiry_days: days })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.equal(res.body.remind_before_expiry_days, days)
      return api
    }
    const deliver = async () => {
      for (let i = 0; i < 3; i++) await t.outboxWorker.drain()
    }

    it('sends one reminder at expiry minus the setting, not before, with the same link, shown in the invitation\'s history', async () => {
      const api = await remindingApi(3)
      const inv = await inviteApp(api, { notify: true, expires_in_days: 10 })
      await deliver()
      t.clock.advance(7 * DAY_MS - 60_000)
      await t.expirySweep.runOnce()
      await deliver()
      assert.equal(await reminders(inv.id), 0, 'not a minute early')
      t.clock.advance(60_000)
      await t.expirySweep.runOnce()
      await t.expirySweep.runOnce()
      await deliver()
      assert.equal(await reminders(inv.id), 1)
      const [message] = await t.db.query<{ text: string; subject: string }>(`select text, subject from dev_mailbox_messages where subject_id = $1 and template_slug = 'invitation_reminder'`, [inv.id])
      assert.ok(message!.text.includes(inv.url), 'the invitation\'s own link')
      assert.match(message!.subject, /^Reminder: your invitation to Test app expires soon$/)
      assert.deepEqual((await history(api, inv.id)).map((e) => [e.template_slug, e.status]), [['invitation', 'sent'], ['invitation_reminder', 'sent']])
      // The sweeps to come send nothing more, up to the expiry.
      t.clock.advance(3 * DAY_MS - 1)
      await t.expirySweep.runOnce()
      await deliver()
      assert.equal(await reminders(inv.id), 1)
    })

    it('sends none when off (0), for an invitation not emailed (notify false), or one sent inside the window', async () => {
      const off = await inviteApp(await remindingApi(0), { notify: true, expires_in_days: 10 })
      const api = await remindingApi(3)
      const silent = await inviteApp(api, { notify: false, expires_in_days: 10 })
      const late = await inviteApp(api, { notify: true, expires_in_days: 2 })
      t.clock.advance(DAY_MS)
      await t.expirySweep.runOnce()
      await deliver()
      assert.equal(await reminders(late.id), 0, 'inside its window, and unexpired')
      t.clock.advance(7 * DAY_MS)
      await t.expirySweep.runOnce()
      await deliver()
      for (const inv of [off, silent]) assert.equal(await reminders(inv.id), 0)
    })

    it('sends none once the invitation is revoked, even when the reminder was queued before', async () => {
      const api = await remindingApi(3)
      const before = await inviteApp(api, { notify: true, expires_in_days: 10 })
      const queued = await inviteApp(api, { notify: true, expires_in_days: 10 })
      await deliver()
      assert.equal((await api.post(`/v1/invitations/${before.id}/revoke`)).status, 200)
      t.clock.advance(8 * DAY_MS)
      await t.expirySweep.runOnce()
      assert.equal((await api.post(`/v1/invitations/${queued.id}/revoke`)).status, 200)
      await deliver()
      assert.equal(await reminders(before.id), 0)
      assert.equal(await reminders(queued.id), 0)
      assert.deepEqual((await history(api, queued.id)).map((e) => [e.template_slug, e.status, e.skipped_reason]),
        [['invitation', 'sent', null], ['invitation_reminder', 'skipped', 'invitation_revoked']])
    })

    it('a resend before the window makes a reminder due again; one inside the window stands for it', async () => {
      const api = await remindingApi(3)
      const inv = await inviteApp(api, { notify: true, expires_in_days: 20 })
      t.clock.advance(17 * DAY_MS)
      await t.expirySweep.runOnce()
      await deliver()
      assert.equal(await reminders(inv.id), 1)
      // Inside the window: the resent email is the reminder.
      assert.equal((await api.post(`/v1/invitations/${inv.id}/resend`)).status, 200)
      await t.expirySweep.runOnce()
      await deliver()
      assert.equal(await reminders(inv.id), 1)
      // Re-issued after expiry for 10 days: the new term gets its own reminder, 3 days before its end.
      t.clock.advance(3 * DAY_MS)
      assert.equal((await api.post(`/v1/invitations/${inv.id}/resend`, { expires_in_days: 10 })).status, 200)
      await t.expirySweep.runOnce()
      await deliver()
      assert.equal(await reminders(inv.id), 1)
      t.clock.advance(7 * DAY_MS)
      await t.expirySweep.runOnce()
      await deliver()
      assert.equal(await reminders(inv.id), 2)
    })

    it('reminds an organization invitation once, with its own template, the organization\'s names and the same link', async () => {
      const s = await setupOrg(t)
      assert.equal((await s.api.patch('/v1/instance', { remind_before_expiry_days: 2 })).status, 200)
      const inv = await invite(s.api, s.orgId, { inviter_user_id: s.admin.id, notify: true, expires_in_days: 5 })
      t.clock.advance(2 * DAY_MS)
      await t.expirySweep.runOnce()
      await deliver()
      assert.equal(await reminders(inv.id), 0)
      t.clock.advance(DAY_MS)
      await t.expirySweep.runOnce()
      await t.expirySweep.runOnce()
      await deliver()
      const messages = await t.db.query<{ text: string; subject: string }>(`select text, subject from dev_mailbox_messages where subject_id = $1 and template_slug = 'organization_invitation_reminder'`, [inv.id])
      assert.equal(messages.length, 1)
      assert.ok(messages[0]!.text.includes(inv.url))
      assert.match(messages[0]!.text, /Ada Lovelace invited .* to join the organization Acme on Test app/)
    })
  })
})
