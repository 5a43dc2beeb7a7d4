import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { APP_ORIGIN, buildTestApp, uniqueEmail, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { assertMatchesFapi } from '../helpers/spec.js'
import { newId } from '../../src/platform/ids.js'
import { fapi, ticketOf, type Fapi } from './fapi-client.js'
import {
  inviteTo, invitationNow, membershipsOf, orgWorld, PASSWORD, person, queuedEvents, sessionFor, type OrgWorld,
} from '../accept/org-helpers.js'

const EVIL = 'https://evil.example.net'

function assertError(res: { status: number; body: any }, status: number, code: string) {
  assert.equal(res.status, status, JSON.stringify(res.body))
  assert.equal(res.body.errors[0].code, code, JSON.stringify(res.body))
  assertMatchesFapi('ClerkErrors', res.body)
}

forEachDatabase('Frontend API: organization invitations', (engine) => {
  let t: TestApp
  let f: Fapi
  let w: OrgWorld
  before(async () => {
    t = await buildTestApp({ engine })
    f = fapi(t.app)
    w = await orgWorld(t)
  })
  after(() => t.close())

  describe('GET /v1/me/organization_invitations', () => {
    it('answers 401 signed_out without a session, or with a session of another instance than the one named', async () => {
      assertError(await f.get('/v1/me/organization_invitations'), 401, 'signed_out')
      assertError(await f.get('/v1/me/organization_invitations', { session: 'not-a-session' }), 401, 'signed_out')
      const p = await person(w.api)
      const other = await t.newInstance('Other')
      assertError(await f.get('/v1/me/organization_invitations', { session: await sessionFor(t, w.instance, p.email), instance: other.instance.id }), 401, 'signed_out')
    })

    it('lists the signed-in person\'s invitations in Clerk\'s shape, newest first, filtered by status, and nobody else\'s', async () => {
      const own = await orgWorld(t, { instanceName: 'Lists', orgName: 'Listed Org' })
      const p = await person(own.api)
      const older = await inviteTo(own, { email_address: p.email, role: 'org:admin', public_metadata: { a: 1 }, private_metadata: { secret: true } })
      // Moves the instance's clock, so that "newest first" is not decided by ids made in one millisecond.
      const tick = () => own.api.post('/v1/testing/clock', { advance_ms: 1000 })
      await tick()
      const second = (await own.api.post('/v1/organizations', { name: 'Second', created_by: own.admin.id })).body
      const newer = await inviteTo({ api: own.api, orgId: second.id }, { email_address: p.email })
      await tick()
      const third = (await own.api.post('/v1/organizations', { name: 'Third', created_by: own.admin.id })).body
      const revoked = await inviteTo({ api: own.api, orgId: third.id }, { email_address: p.email })
      assert.equal((await own.api.post(`/v1/organizations/${third.id}/invitations/${revoked.id}/revoke`)).status, 200)
      await inviteTo(own, { email_address: uniqueEmail('someone-else') })
      const session = await sessionFor(t, own.instance, p.email)

      const all = await f.get('/v1/me/organization_invitations', { session })
      assert.equal(all.status, 200, JSON.stringify(all.body))
      assertMatchesFapi('Client.ClientWrappedOrganizationInvitationsUserContext', all.body)
      assert.equal(all.body.response.total_count, 3)
      assert.deepEqual(all.body.response.data.map((i: any) => i.id), [revoked.id, newer.id, older.id])
      const first = all.body.response.data[2]
      assert.equal(first.object, 'organization_invitation')
      assert.equal(first.role, 'org:admin')
      assert.equal(first.role_name, 'Admin')
      assert.equal(first.status, 'pending')
      assert.deepEqual(first.public_metadata, { a: 1 })
      assert.equal(first.private_metadata, undefined, 'never the private metadata')
      assert.equal(first.url, null, 'never the link')
      assert.deepEqual(first.public_organization_data, { id: own.orgId, name: 'Listed Org', slug: first.public_organization_data.slug, image_url: '', has_image: false })
      assert.equal(all.body.client.sessions[0].user.id, p.id)

      const pending = await f.get('/v1/me/organization_invitations?status=pending&limit=1', { session, instance: own.instance.id })
      assert.equal(pending.body.response.total_count, 2)
      assert.deepEqual(pending.body.response.data.map((i: any) => i.id), [newer.id])
      const several = await f.get('/v1/me/organization_invitations?status=pending,revoked&offset=2', { session })
      assert.deepEqual(several.body.response.data.map((i: any) => i.id), [older.id])
      assertError(await f.get('/v1/me/organization_invitations?status=bogus', { session }), 422, 'form_param_value_invalid')
    })

    it('answers an allowed origin with CORS headers and credentials, another origin with none', async () => {
      const p = await person(w.api)
      const session = await sessionFor(t, w.instance, p.email)
      const allowed = await f.get('/v1/me/organization_invitations', { session, origin: APP_ORIGIN })
      assert.equal(allowed.headers['access-control-allow-origin'], APP_ORIGIN)
      assert.equal(allowed.headers['access-control-allow-credentials'], 'true')
      const evil = await f.get('/v1/me/organization_invitations', { session, origin: EVIL })
      assert.equal(evil.headers['access-control-allow-origin'], undefined)
      for (const path of ['/v1/me/organization_invitations/orginv_1/accept', `/v1/organizations/${w.orgId}/invitations`]) {
        const pre = await f.options(path, { origin: APP_ORIGIN, headers: { 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } })
        assert.equal(pre.status, 204, path)
        assert.equal(pre.headers['access-control-allow-origin'], APP_ORIGIN)
        const refused = await f.options(path, { origin: EVIL, headers: { 'access-control-request-method': 'POST' } })
        assert.equal(refused.headers['access-control-allow-origin'], undefined)
      }
    })
  })

  describe('POST /v1/me/organization_invitations/{id}/accept', () => {
    it('makes the signed-in person a member with the invited role and metadata, and answers the accepted invitation', async () => {
      const own = await orgWorld(t, { instanceName: 'Accepts' })
      const p = await person(own.api)
      const inv = await inviteTo(own, { email_address: p.email, role: 'org:admin', public_metadata: { team: 'ops' }, private_metadata: { badge: 9 } })
      const session = await sessionFor(t, own.instance, p.email)
      const res = await f.post(`/v1/me/organization_invitations/${inv.id}/accept`, undefined, { session, origin: APP_ORIGIN })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assertMatchesFapi('Client.ClientWrappedOrganizationInvitationUserContext', res.body)
      assert.equal(res.body.response.id, inv.id)
      assert.equal(res.body.response.status, 'accepted')
      const [membership] = await membershipsOf(own.api, p.id)
      assert.equal(membership.role, 'org:admin')
      assert.deepEqual(membership.public_metadata, { team: 'ops' })
      assert.deepEqual(membership.private_metadata, { badge: 9 })
      const types = (await queuedEvents(t, own.instance.id)).map((e) => e.type)
      assert.ok(types.includes('organizationInvitation.accepted'))

      assertError(await f.post(`/v1/me/organization_invitations/${inv.id}/accept`, undefined, { session }), 422, 'organization_invitation_not_pending')
    })

    it('answers 404 for an invitation that is not the person\'s, and 401 signed out; neither consumes it', async () => {
      const p = await person(w.api)
      const inv = await inviteTo(w)
      assertError(await f.post(`/v1/me/organization_invitations/${inv.id}/accept`, undefined, { session: await sessionFor(t, w.instance, p.email) }), 404, 'organization_invitation_not_found')
      assertError(await f.post(`/v1/me/organization_invitations/${inv.id}/accept`), 401, 'signed_out')
      assertError(await f.post('/v1/me/organization_invitations/orginv_nope/accept', undefined, { session: await sessionFor(t, w.instance, p.email) }), 404, 'organization_invitation_not_found')
      assert.equal((await invitationNow(w, inv.id)).status, 'pending')
    })

    it('refuses an origin that is not allowed with 403 origin_invalid before anything happens', async () => {
      const p = await person(w.api)
      const inv = await inviteTo(w, { email_address: p.email })
      assertError(await f.post(`/v1/me/organization_invitations/${inv.id}/accept`, undefined, { session: await sessionFor(t, w.instance, p.email), origin: EVIL }), 403, 'origin_invalid')
      assert.equal((await invitationNow(w, inv.id)).status, 'pending')
    })

    it('refuses an expired invitation with 422', async () => {
      const own = await orgWorld(t, { instanceName: 'Expires' })
      const p = await person(own.api)
      const inv = await inviteTo(own, { email_address: p.email, expires_in_days: 1 })
      await own.api.post('/v1/testing/clock', { advance_ms: 2 * 24 * 60 * 60 * 1000 })
      assertError(await f.post(`/v1/me/organization_invitations/${inv.id}/accept`, undefined, { session: await sessionFor(t, own.instance, p.email) }), 422, 'organization_invitation_not_pending')
    })
  })

  describe('GET /v1/me/organization_memberships', () => {
    it('lists the signed-in person\'s memberships in Clerk\'s shape, without any private metadata', async () => {
      const own = await orgWorld(t, { instanceName: 'Members', orgName: 'Member Org' })
      const p = await person(own.api)
      const inv = await inviteTo(own, { email_address: p.email, role: 'org:admin', public_metadata: { team: 'ops' }, private_metadata: { badge: 9 } })
      const session = await sessionFor(t, own.instance, p.email)
      assertError(await f.get('/v1/me/organization_memberships'), 401, 'signed_out')
      const before = await f.get('/v1/me/organization_memberships', { session })
      assert.deepEqual(before.body.response, { data: [], total_count: 0 })
      await f.post(`/v1/me/organization_invitations/${inv.id}/accept`, undefined, { session })

      const res = await f.get('/v1/me/organization_memberships', { session })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assertMatchesFapi('Client.ClientWrappedOrganizationMemberships', res.body)
      assert.equal(res.body.response.total_count, 1)
      const [membership] = res.body.response.data
      assert.equal(membership.role, 'org:admin')
      assert.equal(membership.organization.id, own.orgId)
      assert.equal(membership.organization.name, 'Member Org')
      assert.deepEqual(membership.public_metadata, { team: 'ops' })
      assert.ok(!JSON.stringify(res.body).includes('private_metadata'), 'private metadata stays in the Backend API')
      const plain = await f.get('/v1/me/organization_memberships?paginated=false', { session })
      assert.deepEqual(plain.body.response.map((m: { id: string }) => m.id), [membership.id])
    })
  })

  describe('GET /v1/me/organization_suggestions and POST …/{id}/accept', () => {
    it('lists the person\'s pending suggestions in Clerk\'s shape and asks to join one', async () => {
      const own = await orgWorld(t, { instanceName: 'Suggests', orgName: 'Domain Org' })
      const p = await person(own.api)
      const now = Date.now()
      const id = newId('orgsug', now)
      await t.db.query(`insert into organization_suggestions (id, instance_id, organization_id, user_id, email_address, created_at, updated_at)
        values ($1, $2, $3, $4, $5, $6, $6)`, [id, own.instance.id, own.orgId, p.id, p.email, now])
      const session = await sessionFor(t, own.instance, p.email)
      const list = await f.get('/v1/me/organization_suggestions', { session })
      assert.equal(list.status, 200, JSON.stringify(list.body))
      assertMatchesFapi('Client.ClientWrappedOrganizationSuggestions', list.body)
      assert.equal(list.body.response.total_count, 1)
      assert.equal(list.body.response.data[0].public_organization_data.name, 'Domain Org')
      const accepted = await f.post(`/v1/me/organization_suggestions/${id}/accept`, undefined, { session })
      assert.equal(accepted.status, 200, JSON.stringify(accepted.body))
      assertMatchesFapi('Client.ClientWrappedOrganizationSuggestion', accepted.body)
      assert.equal(accepted.body.response.status, 'accepted')
      const events = await t.db.query<{ payload: { data: Record<string, unknown> } }>(
        `select payload from outbox where instance_id = $1 and topic = 'organizationSuggestion.accepted'`, [own.instance.id])
      assert.equal(events.length, 1, 'the application hears of the request to join')
      assert.deepEqual({ ...events[0]!.payload.data, created_at: 0, updated_at: 0 }, {
        object: 'organization_suggestion', id, status: 'accepted', organization_id: own.orgId, user_id: p.id, email_address: p.email, created_at: 0, updated_at: 0,
      })
      assert.equal((await f.get('/v1/me/organization_suggestions', { session })).body.response.total_count, 0)
      assertError(await f.post(`/v1/me/organization_suggestions/${id}/accept`, undefined, { session }), 404, 'resource_not_found')
    })
  })

  describe('POST /v1/organizations/{id}/invitations with the session (client-side invite)', () => {
    it('lets a member holding org:sys_memberships:manage invite: they are the inviter, there is no redirect URL, the email goes out', async () => {
      const own = await orgWorld(t, { instanceName: 'Invites' })
      const session = await sessionFor(t, own.instance, own.admin.email)
      const email = uniqueEmail('client-invited')
      // Clerk's browser SDK posts form-encoded.
      const res = await f.post(`/v1/organizations/${own.orgId}/invitations`, { email_address: email, role: 'org:member' }, { session, origin: APP_ORIGIN, form: true })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assertMatchesFapi('Client.ClientWrappedOrganizationInvitation', res.body)
      assert.equal(res.body.response.email_address, email)
      assert.equal(res.body.response.status, 'pending')
      assert.equal(res.headers['access-control-allow-origin'], APP_ORIGIN)
      const stored = await invitationNow(own, res.body.response.id)
      assert.equal(stored.inviter_id, own.admin.id)
      const [row] = await t.db.query<{ redirect_url: string | null; notify: boolean }>('select redirect_url, notify from organization_invitations where id = $1', [stored.id])
      assert.equal(row!.redirect_url, null)
      assert.equal(row!.notify, true)
      const [email_] = await t.db.query<{ n: number }>(`select count(*)::int as n from outbox where instance_id = $1 and kind = 'email' and topic = 'organization_invitation'`, [own.instance.id])
      assert.equal(Number(email_!.n), 1)
    })

    it('refuses a plain member (403 missing_organization_permission) and a non-member (403 not_a_member_in_organization)', async () => {
      const member = await person(w.api)
      assert.equal((await w.api.post(`/v1/organizations/${w.orgId}/memberships`, { user_id: member.id, role: 'org:member' })).status, 200)
      const stranger = await person(w.api)
      const body = { email_address: uniqueEmail(), role: 'org:member' }
      assertError(await f.post(`/v1/organizations/${w.orgId}/invitations`, body, { session: await sessionFor(t, w.instance, member.email) }), 403, 'missing_organization_permission')
      assertError(await f.post(`/v1/organizations/${w.orgId}/invitations`, body, { session: await sessionFor(t, w.instance, stranger.email) }), 403, 'not_a_member_in_organization')
    })

    it('answers 401 signed_out for a dead session cookie, and 404 for an organization of another instance', async () => {
      assertError(await f.post(`/v1/organizations/${w.orgId}/invitations`, { email_address: uniqueEmail(), role: 'org:member' }, { session: 'expired-or-made-up' }), 401, 'signed_out')
      const other = await orgWorld(t, { instanceName: 'Elsewhere' })
      const res = await f.post(`/v1/organizations/${other.orgId}/invitations`, { email_address: uniqueEmail(), role: 'org:member' }, { session: await sessionFor(t, w.instance, w.admin.email) })
      assert.equal(res.status, 404, JSON.stringify(res.body))
    })

    it('leaves the Backend API route of the same path to requests with a secret key, or with no credential at all', async () => {
      const email = uniqueEmail()
      const bapi = await w.api.post(`/v1/organizations/${w.orgId}/invitations`, { email_address: email, role: 'org:member', notify: false, redirect_url: `${APP_ORIGIN}/join` })
      assert.equal(bapi.status, 200, JSON.stringify(bapi.body))
      assert.equal(bapi.body.private_metadata !== undefined, true, 'the Backend API object')
      // A secret key wins over a cookie.
      const session = await sessionFor(t, w.instance, w.admin.email)
      const both = await w.api.post(`/v1/organizations/${w.orgId}/invitations`, { email_address: uniqueEmail(), role: 'org:member', notify: false },
        { cookie: `__foyer_session=${session}` })
      assert.equal(both.status, 200)
      assert.equal(both.body.object, 'organization_invitation')
      assert.equal(both.body.client, undefined)
      assertError(await f.post(`/v1/organizations/${w.orgId}/invitations`, { email_address: uniqueEmail(), role: 'org:member' }), 401, 'authorization_header_format_invalid')
      // The Backend API's listing is untouched by the Frontend API route.
      assert.equal((await w.api.get(`/v1/organizations/${w.orgId}/invitations`)).status, 200)
    })

    it('counts client-side invites against the instance\'s hourly create_organization_invitation limit (429 past it)', async () => {
      const own = await orgWorld(t, { instanceName: 'Limited' })
      const patched = await own.api.patch('/v1/instance', { rate_limits: { create_organization_invitation: 2 } })
      assert.equal(patched.status, 200, JSON.stringify(patched.body))
      const session = await sessionFor(t, own.instance, own.admin.email)
      const send = () => f.post(`/v1/organizations/${own.orgId}/invitations`, { email_address: uniqueEmail(), role: 'org:member', notify: false }, { session })
      assert.equal((await send()).status, 200)
      assert.equal((await send()).status, 200)
      const refused = await send()
      assertError(refused, 429, 'too_many_requests')
      assert.ok(Number(refused.headers['retry-after']) > 0)
    })

    it('refuses a cross-site post (403 origin_invalid) before anything happens', async () => {
      const session = await sessionFor(t, w.instance, w.admin.email)
      const email = uniqueEmail()
      assertError(await f.post(`/v1/organizations/${w.orgId}/invitations`, { email_address: email, role: 'org:member' }, { session, origin: EVIL }), 403, 'origin_invalid')
      const list = await w.api.get(`/v1/organizations/${w.orgId}/invitations?email_address=${encodeURIComponent(email)}`)
      assert.equal(list.body.total_count, 0)
    })
  })

  describe('sign-up and sign-in with an organization ticket', () => {
    it('POST /v1/client/sign_ups strategy=ticket creates the user and the membership', async () => {
      const own = await orgWorld(t, { instanceName: 'FapiSignUp' })
      const inv = await inviteTo(own, { role: 'org:admin', public_metadata: { x: 1 } })
      const res = await f.post('/v1/client/sign_ups', { strategy: 'ticket', ticket: ticketOf(inv), password: PASSWORD })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assertMatchesFapi('Client.ClientWrappedSignUp', res.body)
      assert.equal(res.body.response.status, 'complete')
      const userId = res.body.response.created_user_id
      assert.deepEqual(res.body.response.public_metadata, {}, 'the metadata went to the membership')
      const [membership] = await membershipsOf(own.api, userId)
      assert.equal(membership.organization.id, own.orgId)
      assert.equal(membership.role, 'org:admin')
      assert.deepEqual(membership.public_metadata, { x: 1 })
      assert.equal((await invitationNow(own, inv.id)).status, 'accepted')
      // The new session sees its (now accepted) invitation.
      const mine = await f.get('/v1/me/organization_invitations', { session: res.session })
      assert.deepEqual(mine.body.response.data.map((i: any) => [i.id, i.status]), [[inv.id, 'accepted']])
    })

    it('POST /v1/client/sign_ins strategy=ticket makes an existing person a member', async () => {
      const p = await person(w.api)
      const inv = await inviteTo(w, { email_address: p.email })
      const res = await f.post('/v1/client/sign_ins', { strategy: 'ticket', ticket: ticketOf(inv) })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.equal(res.body.response.status, 'complete')
      const [membership] = await membershipsOf(w.api, p.id)
      assert.equal(membership.organization.id, w.orgId)
      assert.equal((await invitationNow(w, inv.id)).status, 'accepted')
      assertError(await f.post('/v1/client/sign_ins', { strategy: 'ticket', ticket: ticketOf(inv) }), 400, 'ticket_invalid')
    })

    it('POST /v1/client/sign_ins with a password and an organization ticket accepts it too', async () => {
      const p = await person(w.api)
      const inv = await inviteTo(w, { email_address: p.email })
      const res = await f.post('/v1/client/sign_ins', { identifier: p.email, password: PASSWORD, ticket: ticketOf(inv) }, { instance: w.instance.id })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.equal((await membershipsOf(w.api, p.id)).length, 1)
    })

    it('refuses an organization ticket for another address on a password sign-in (403), consuming nothing', async () => {
      const p = await person(w.api)
      const inv = await inviteTo(w)
      assertError(await f.post('/v1/client/sign_ins', { identifier: p.email, password: PASSWORD, ticket: ticketOf(inv) }, { instance: w.instance.id }), 403, 'not_allowed_access')
      assert.equal((await invitationNow(w, inv.id)).status, 'pending')
      assert.deepEqual(await membershipsOf(w.api, p.id), [])
    })

    it('lets exactly one of concurrent sign-ups with one organization ticket win', async () => {
      const inv = await inviteTo(w)
      const results = await Promise.all([1, 2, 3].map(() => f.post('/v1/client/sign_ups', { strategy: 'ticket', ticket: ticketOf(inv), password: PASSWORD })))
      const statuses = results.map((r) => r.status).sort()
      assert.deepEqual(statuses, [200, 400, 400], JSON.stringify(results.map((r) => r.body)))
      for (const r of results.filter((x) => x.status === 400)) assert.equal(r.body.errors[0].code, 'ticket_invalid')
      const winner = results.find((r) => r.status === 200)!
      assert.equal((await membershipsOf(w.api, winner.body.response.created_user_id)).length, 1)
      const members = await w.api.get(`/v1/organizations/${w.orgId}/memberships?email_address=${encodeURIComponent(inv.email_address)}`)
      assert.equal(members.body.total_count, 1)
    })
  })
})
