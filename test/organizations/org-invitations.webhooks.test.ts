import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { buildTestApp, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { assertMatchesSpec, webhookEventValidator } from '../helpers/spec.js'
import { startReceiver } from '../webhooks/receiver.js'
import { createOrgInvitationStore } from '../../src/organizations/org-invitations.store.js'
import { orgInvitationEvent } from '../../src/organizations/org-invitations.service.js'
import { invite, makePerson, setupOrg } from './org-invitations.fixtures.js'

const ORG_INVITATION_EVENTS = ['organizationInvitation.created', 'organizationInvitation.accepted', 'organizationInvitation.revoked', 'organizationInvitation.declined']
const KEYS = ['object', 'id', 'email_address', 'role', 'role_name', 'organization_id', 'inviter_id', 'public_inviter_data', 'status',
  'public_metadata', 'private_metadata', 'url', 'expires_at', 'created_at', 'updated_at']

forEachDatabase('organization invitation webhooks', (engine) => {
  let t: TestApp
  before(async () => {
    t = await buildTestApp({ engine })
  })
  after(() => t.close())

  /**
   * An organization whose instance has one endpoint pointing at a new receiver, taking the
   * organization invitation events by default (creating the organization queues others).
   */
  async function setup(endpoint: Record<string, unknown> = { event_types: ORG_INVITATION_EVENTS }) {
    const s = await setupOrg(t, { name: 'Acme', instanceName: 'Launchpad' })
    let secret = ''
    const receiver = await startReceiver(() => secret)
    const res = await s.api.post('/v1/webhooks/endpoints', { url: receiver.url, ...endpoint })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    secret = res.body.secret
    return { ...s, receiver }
  }

  /** Email sends (queuing email.created), then fan-out, then delivery. */
  const deliverAll = async () => {
    for (let i = 0; i < 3; i++) await t.outboxWorker.drain()
  }
  const events = (receiver: Awaited<ReturnType<typeof setup>>['receiver']) => receiver.received.map((r) => {
    assert.ok(r.verified.ok, `svix verification failed: ${JSON.stringify(r.verified)}`)
    return JSON.parse(r.body)
  })

  it('sends organizationInvitation.created and .revoked as Clerk\'s OrganizationInvitation, the link derived at delivery', async (ctx) => {
    const s = await setup()
    ctx.after(s.receiver.close)
    const inv = await invite(s.api, s.orgId, { inviter_user_id: s.admin.id, public_metadata: { team: 'ops' } })
    await deliverAll()
    assert.equal((await s.api.post(`/v1/organizations/${s.orgId}/invitations/${inv.id}/revoke`)).status, 200)
    await deliverAll()

    const [created, revoked, ...more] = events(s.receiver)
    assert.equal(more.length, 0)
    assertMatchesSpec(webhookEventValidator('organizationInvitation.created'), created, 'organizationInvitation.created')
    assertMatchesSpec(webhookEventValidator('organizationInvitation.revoked'), revoked, 'organizationInvitation.revoked')
    assert.equal(created.type, 'organizationInvitation.created')
    assert.equal(revoked.type, 'organizationInvitation.revoked')
    for (const event of [created, revoked]) {
      assert.equal(event.object, 'event')
      assert.equal(event.instance_id, s.instance.id)
      assert.deepEqual(Object.keys(event.data), KEYS)
      assert.equal(event.data.id, inv.id)
      assert.equal(event.data.url, inv.url)
      assert.equal(event.data.public_inviter_data.user_id, s.admin.id)
      assert.deepEqual(event.data.private_metadata, {})
    }
    assert.equal(created.data.status, 'pending')
    assert.equal(revoked.data.status, 'revoked')

    // What is stored holds no working link.
    const ticket = new URL(inv.url).searchParams.get('ticket')!
    const stored = await t.db.query<{ payload: string }>(`select payload::text as payload from outbox where kind = 'webhook' and subject_id = $1`, [inv.id])
    assert.equal(stored.length, 2)
    assert.ok(stored.every((row) => !row.payload.includes(ticket)))
  })

  it('announces the email with email.created, its bodies and variables rendered again at delivery', async (ctx) => {
    const s = await setup({ event_types: ['email.created'] })
    ctx.after(s.receiver.close)
    const inv = await invite(s.api, s.orgId, { inviter_user_id: s.admin.id, notify: true })
    await deliverAll()
    const [event, ...more] = events(s.receiver)
    assert.equal(more.length, 0)
    assertMatchesSpec(webhookEventValidator('email.created'), event, 'email.created')
    assert.equal(event.data.slug, 'organization_invitation')
    assert.equal(event.data.to_email_address, inv.email_address)
    assert.equal(event.data.subject, 'Ada Lovelace invited you to join Acme on Launchpad')
    assert.equal(event.data.data.invitation_id, inv.id)
    assert.equal(event.data.data.inviter_name, 'Ada Lovelace')
    assert.equal(event.data.data.organization_name, 'Acme')
    assert.equal(event.data.data.url, inv.url)
    assert.ok(event.data.body.includes(inv.url.replaceAll('&', '&amp;')))
    assert.ok(event.data.body_plain.includes(inv.url))
    const ticket = new URL(inv.url).searchParams.get('ticket')!
    const stored = await t.db.query<{ payload: string }>(`select payload::text as payload from outbox where kind = 'webhook' and topic = 'email.created' and instance_id = $1`, [s.instance.id])
    assert.equal(stored.length, 1)
    assert.ok(!stored[0]!.payload.includes(ticket))
  })

  it('builds accepted and declined events for acceptance (the store\'s guarded accept and decline)', async (ctx) => {
    const s = await setup()
    ctx.after(s.receiver.close)
    const store = createOrgInvitationStore()
    const invitee = await makePerson(s.api, null, null)
    const toAccept = await invite(s.api, s.orgId, { email_address: invitee.email })
    const toDecline = await invite(s.api, s.orgId)
    await deliverAll()
    s.receiver.received.length = 0

    const now = t.clock.now(s.instance)
    const current = (await store.findById(t.db, s.instance.id, toAccept.id))!
    const ticketHash = current.ticket_hash
    const after = { ...current, status: 'accepted' as const, accepted_by_user_id: invitee.id, updated_at: now }
    const accepted = await store.accept(t.db, s.instance.id, toAccept.id, ticketHash, invitee.id, now, t.clock.now(),
      [orgInvitationEvent('organizationInvitation.accepted', s.instance, after, now)])
    assert.equal(accepted?.status, 'accepted')
    // Guarded: a second acceptance of the same ticket changes nothing.
    assert.equal(await store.accept(t.db, s.instance.id, toAccept.id, ticketHash, invitee.id, now, t.clock.now(), []), null)

    const other = (await store.findById(t.db, s.instance.id, toDecline.id))!
    const declined = await store.decline(t.db, s.instance.id, toDecline.id, now, t.clock.now(),
      [orgInvitationEvent('organizationInvitation.declined', s.instance, { ...other, status: 'declined', updated_at: now }, now)])
    assert.equal(declined?.status, 'declined')
    assert.equal(await store.decline(t.db, s.instance.id, toDecline.id, now, t.clock.now(), []), null)
    await deliverAll()

    // Both are due at once: their order of delivery is not fixed.
    const [a, d, ...more] = events(s.receiver).sort((x, y) => x.type.localeCompare(y.type))
    assert.equal(more.length, 0)
    assert.equal(a.type, 'organizationInvitation.accepted')
    assert.equal(a.data.status, 'accepted')
    assert.equal(a.data.user_id, invitee.id)
    assert.equal(a.data.url, toAccept.url)
    assert.deepEqual(Object.keys(a.data), [...KEYS, 'user_id'])
    // The reference's accepted payload adds user_id to an object that allows no more fields; the
    // invitation part is checked against the created event's schema.
    const { user_id: _u, ...invitationPart } = a.data
    assertMatchesSpec(webhookEventValidator('organizationInvitation.created'), { ...a, data: invitationPart }, 'accepted invitation')
    assert.equal(d.type, 'organizationInvitation.declined')
    assert.equal(d.data.status, 'declined')
    assert.deepEqual(Object.keys(d.data), KEYS)
    assertMatchesSpec(webhookEventValidator('organizationInvitation.created'), { ...d, type: 'organizationInvitation.created' }, 'declined invitation')

    const listed = await s.api.get(`/v1/organizations/${s.orgId}/invitations?status=declined`)
    assert.deepEqual(listed.body.data.map((i: any) => i.id), [toDecline.id])
  })

  it('lets an endpoint subscribe to organizationInvitation.declined alone', async (ctx) => {
    const s = await setup({ event_types: ['organizationInvitation.declined'] })
    ctx.after(s.receiver.close)
    await invite(s.api, s.orgId)
    await deliverAll()
    assert.equal(s.receiver.received.length, 0)
  })

  it('finds the pending invitations of a set of addresses and an invitation by its ticket', async () => {
    const s = await setupOrg(t)
    const store = createOrgInvitationStore()
    const a = await invite(s.api, s.orgId)
    const b = await invite(s.api, s.orgId)
    const revoked = await invite(s.api, s.orgId)
    await s.api.post(`/v1/organizations/${s.orgId}/invitations/${revoked.id}/revoke`)
    const now = t.clock.now(s.instance)
    const found = await store.listPendingForEmails(t.db, s.instance.id, [a.email_address.toUpperCase(), revoked.email_address, 'x@example.com'], now)
    assert.deepEqual(found.map((r) => r.id), [a.id])
    assert.equal(found[0]!.organization_name, 'Acme')
    const ticket = new URL(b.url).searchParams.get('ticket')!
    const byTicket = await store.findByTicketHash(t.db, t.services.tickets.hash(ticket))
    assert.equal(byTicket?.id, b.id)
    assert.equal(await store.findByTicketHash(t.db, t.services.tickets.hash('nope')), null)
  })
})

describe('organizationInvitation event types', () => {
  it('are offered to endpoints, declined included', async () => {
    const { EVENT_TYPES } = await import('../../src/webhooks/webhooks.schemas.js')
    for (const type of ORG_INVITATION_EVENTS) {
      assert.ok((EVENT_TYPES as readonly string[]).includes(type), type)
    }
  })
})
