import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { buildTestApp, uniqueEmail, APP_ORIGIN, PUBLIC_URL, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { assertMatchesSpec, loadBapiSpec } from '../helpers/spec.js'
import { DAY_MS } from '../../src/platform/clock.js'
import { invite, makeOrg, makePerson, makeRole, setupOrg } from './org-invitations.fixtures.js'

const spec = loadBapiSpec()
const created = spec.response('CreateOrganizationInvitation', 200)
const errorBody = (status: number) => spec.response('CreateOrganizationInvitation', status)

const KEYS = ['object', 'id', 'email_address', 'role', 'role_name', 'organization_id', 'inviter_id', 'public_inviter_data', 'status',
  'public_metadata', 'private_metadata', 'url', 'expires_at', 'created_at', 'updated_at']

forEachDatabase('POST /v1/organizations/{id}/invitations', (engine) => {
  let t: TestApp
  before(async () => {
    t = await buildTestApp({ engine })
  })
  after(() => t.close())

  describe('creating', () => {
    it('answers 200 with Clerk\'s OrganizationInvitation, pending, with a link and no email when notify is false', async () => {
      const { api, orgId, instance } = await setupOrg(t)
      const email = uniqueEmail('New.Person')
      const now = t.clock.now(instance)
      const res = await api.post(`/v1/organizations/${orgId}/invitations`, {
        email_address: `  ${email.toUpperCase()} `, role: 'org:member', notify: false,
        public_metadata: { team: 'ops' }, private_metadata: { cost_center: 7 }, redirect_url: `${APP_ORIGIN}/welcome`, expires_in_days: 7,
      })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assertMatchesSpec(created, res.body, 'CreateOrganizationInvitation 200')
      assert.deepEqual(Object.keys(res.body), KEYS)
      assert.match(res.body.id, /^orginv_[0-9A-Za-z]{27}$/)
      assert.equal(res.body.email_address, email.toLowerCase())
      assert.equal(res.body.role, 'org:member')
      assert.equal(res.body.role_name, 'Member')
      assert.equal(res.body.organization_id, orgId)
      assert.equal(res.body.inviter_id, null)
      assert.equal(res.body.public_inviter_data, null)
      assert.equal(res.body.status, 'pending')
      assert.deepEqual(res.body.public_metadata, { team: 'ops' })
      assert.deepEqual(res.body.private_metadata, { cost_center: 7 })
      assert.match(res.body.url, new RegExp(`^${PUBLIC_URL}/v1/tickets/accept\\?ticket=[^&]+$`))
      assert.equal(res.body.expires_at, now + 7 * DAY_MS)
      assert.equal(res.body.created_at, now)

      // The ticket is derived, never stored; the row keeps only its hash and nonce.
      const ticket = new URL(res.body.url).searchParams.get('ticket')!
      const [row] = await t.db.query<Record<string, unknown>>('select * from organization_invitations where id = $1', [res.body.id])
      assert.ok(!JSON.stringify(row).includes(ticket))
      assert.equal(row!.redirect_url, `${APP_ORIGIN}/welcome`)
      assert.equal(row!.source, 'manual')
      const outbox = await t.db.query<{ kind: string; topic: string; payload: string }>(`select kind, topic, payload::text as payload from outbox where subject_id = $1`, [res.body.id])
      assert.deepEqual(outbox.map((o) => [o.kind, o.topic]), [['webhook', 'organizationInvitation.created']])
      assert.ok(!outbox[0]!.payload.includes(ticket), 'the event holds no working link')

      // Reading it again gives the same link.
      const again = await api.get(`/v1/organizations/${orgId}/invitations/${res.body.id}`)
      assert.equal(again.body.url, res.body.url)
    })

    it('queues the email with the event when notify is left out', async () => {
      const { api, orgId } = await setupOrg(t)
      const res = await api.post(`/v1/organizations/${orgId}/invitations`, { email_address: uniqueEmail(), role: 'org:admin' })
      assert.equal(res.status, 200)
      assert.equal(res.body.role_name, 'Admin')
      const outbox = await t.db.query<{ kind: string; topic: string }>(`select kind, topic from outbox where subject_id = $1 order by kind`, [res.body.id])
      assert.deepEqual(outbox.map((o) => [o.kind, o.topic]), [['email', 'organization_invitation'], ['webhook', 'organizationInvitation.created']])
    })

    it('takes a form-encoded body too', async () => {
      const { api, orgId } = await setupOrg(t)
      const email = uniqueEmail()
      const res = await api.post(`/v1/organizations/${orgId}/invitations`, `email_address=${encodeURIComponent(email)}&role=org%3Amember`,
        { 'content-type': 'application/x-www-form-urlencoded' })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.equal(res.body.email_address, email)
    })

    it('answers 404 for an organization that is not the instance\'s', async () => {
      const { api } = await setupOrg(t)
      const other = await setupOrg(t)
      for (const id of ['org_nope', other.orgId]) {
        const res = await api.post(`/v1/organizations/${id}/invitations`, { email_address: uniqueEmail(), role: 'org:member' })
        assert.equal(res.status, 404)
        assertMatchesSpec(errorBody(404), res.body, '404')
        assert.equal(res.body.errors[0].code, 'resource_not_found')
      }
    })
  })

  describe('the inviter', () => {
    it('names an admin: their public data is on the invitation', async () => {
      const { api, orgId, admin } = await setupOrg(t)
      const res = await api.post(`/v1/organizations/${orgId}/invitations`, { email_address: uniqueEmail(), role: 'org:member', inviter_user_id: admin.id, notify: false })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assertMatchesSpec(created, res.body, 'with inviter')
      assert.equal(res.body.inviter_id, admin.id)
      assert.deepEqual(res.body.public_inviter_data, {
        user_id: admin.id, first_name: 'Ada', last_name: 'Lovelace', image_url: '', has_image: false, identifier: admin.email,
      })
    })

    it('refuses a member without org:sys_memberships:manage with 403 missing_organization_permission', async () => {
      const { api, orgId, instance } = await setupOrg(t)
      const member = await makePerson(api, orgId, 'org:member')
      const res = await api.post(`/v1/organizations/${orgId}/invitations`, { email_address: uniqueEmail(), role: 'org:member', inviter_user_id: member.id })
      assert.equal(res.status, 403)
      assertMatchesSpec(errorBody(403), res.body, '403')
      assert.equal(res.body.errors[0].code, 'missing_organization_permission')
      assert.deepEqual(res.body.errors[0].meta.permissions, ['org:sys_memberships:manage'])
      assert.equal(res.body.errors[0].meta.param_name, 'inviter_user_id')
    })

    it('accepts a custom role that holds the permission', async () => {
      const { api, orgId, instance } = await setupOrg(t)
      await makeRole(t.db, instance.id, 'org:recruiter', ['org:sys_memberships:manage'], 'Recruiter')
      const recruiter = await makePerson(api, orgId, 'org:recruiter', { first: 'Rita' })
      const res = await api.post(`/v1/organizations/${orgId}/invitations`, { email_address: uniqueEmail(), role: 'org:member', inviter_user_id: recruiter.id, notify: false })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.equal(res.body.public_inviter_data.first_name, 'Rita')
      assert.equal(res.body.public_inviter_data.last_name, null)
    })

    it('refuses someone who is not a member (or no user at all) with 403 not_a_member_in_organization', async () => {
      const { api, orgId, instance } = await setupOrg(t)
      const other = await makeOrg(api)
      const outsider = await makePerson(api, other, 'org:admin')
      for (const id of [outsider.id, 'user_nope']) {
        const res = await api.post(`/v1/organizations/${orgId}/invitations`, { email_address: uniqueEmail(), role: 'org:member', inviter_user_id: id })
        assert.equal(res.status, 403)
        assert.equal(res.body.errors[0].code, 'not_a_member_in_organization')
      }
      const rows = await t.db.query('select id from organization_invitations where organization_id = $1', [orgId])
      assert.equal(rows.length, 0)
    })
  })

  describe('rules', () => {
    it('refuses a role the instance does not have with 404 naming role', async () => {
      const { api, orgId } = await setupOrg(t)
      const res = await api.post(`/v1/organizations/${orgId}/invitations`, { email_address: uniqueEmail(), role: 'org:wizard' })
      assert.equal(res.status, 404)
      assertMatchesSpec(errorBody(404), res.body, '404')
      assert.equal(res.body.errors[0].code, 'resource_not_found')
      assert.equal(res.body.errors[0].meta.param_name, 'role')
    })

    it('refuses an address that belongs to a member with 400 already_a_member_in_organization', async () => {
      const { api, orgId, instance } = await setupOrg(t)
      const member = await makePerson(api, orgId, 'org:member')
      const res = await api.post(`/v1/organizations/${orgId}/invitations`, { email_address: member.email.toUpperCase(), role: 'org:admin' })
      assert.equal(res.status, 400)
      assertMatchesSpec(errorBody(400), res.body, '400')
      assert.equal(res.body.errors[0].code, 'already_a_member_in_organization')
      assert.equal(res.body.errors[0].meta.param_name, 'email_address')
      // A user who is not a member can be invited.
      const stranger = await makePerson(api, null, null)
      await invite(api, orgId, { email_address: stranger.email })
    })

    it('allows one usable pending invitation per address per organization', async () => {
      const { api, orgId, instance } = await setupOrg(t)
      const email = uniqueEmail()
      await invite(api, orgId, { email_address: email })
      const res = await api.post(`/v1/organizations/${orgId}/invitations`, { email_address: email, role: 'org:admin' })
      assert.equal(res.status, 400)
      assert.equal(res.body.errors[0].code, 'organization_invitation_not_unique')
      assert.equal(res.body.errors[0].meta.param_name, 'email_address')
      // Another organization may invite the same address.
      const other = await makeOrg(api)
      await invite(api, other, { email_address: email })
    })

    it('lets a new invitation replace one that expired; the old one is stored as expired', async () => {
      const { api, orgId } = await setupOrg(t)
      const email = uniqueEmail()
      const old = await invite(api, orgId, { email_address: email, expires_in_days: 1 })
      t.clock.advance(DAY_MS + 1)
      const fresh = await invite(api, orgId, { email_address: email })
      assert.notEqual(fresh.id, old.id)
      const [row] = await t.db.query<{ status: string }>('select status from organization_invitations where id = $1', [old.id])
      assert.equal(row!.status, 'expired')
      assert.equal((await api.get(`/v1/organizations/${orgId}/invitations/${old.id}`)).body.status, 'expired')
    })

    it('allows a new invitation after the previous one was revoked', async () => {
      const { api, orgId } = await setupOrg(t)
      const email = uniqueEmail()
      const first = await invite(api, orgId, { email_address: email })
      assert.equal((await api.post(`/v1/organizations/${orgId}/invitations/${first.id}/revoke`)).status, 200)
      await invite(api, orgId, { email_address: email })
    })

    it('counts members plus usable pending invitations against max_allowed_memberships', async () => {
      const { api, orgId } = await setupOrg(t, { max: 3 }) // the admin holds one seat
      const expiring = await invite(api, orgId, { expires_in_days: 1 })
      await invite(api, orgId)
      const full = await api.post(`/v1/organizations/${orgId}/invitations`, { email_address: uniqueEmail(), role: 'org:member' })
      assert.equal(full.status, 403)
      assertMatchesSpec(errorBody(403), full.body, '403')
      assert.equal(full.body.errors[0].code, 'organization_membership_quota_exceeded')
      assert.match(full.body.errors[0].long_message, /limit of 3 organization memberships/)
      // An expired invitation holds no seat: its seat goes to a new one, and the organization is full again.
      t.clock.advance(DAY_MS + 1)
      assert.equal((await api.get(`/v1/organizations/${orgId}/invitations/${expiring.id}`)).body.status, 'expired')
      const latest = await invite(api, orgId)
      const full2 = await api.post(`/v1/organizations/${orgId}/invitations`, { email_address: uniqueEmail(), role: 'org:member' })
      assert.equal(full2.status, 403)
      // Nor does a revoked one; a member added meanwhile takes its seat.
      assert.equal((await api.post(`/v1/organizations/${orgId}/invitations/${latest.id}/revoke`)).status, 200)
      await makePerson(api, orgId, 'org:member')
      const full3 = await api.post(`/v1/organizations/${orgId}/invitations`, { email_address: uniqueEmail(), role: 'org:member' })
      assert.equal(full3.status, 403)
    })

    it('treats max_allowed_memberships 0 as no limit', async () => {
      const { api, orgId } = await setupOrg(t, { max: 0 })
      for (let i = 0; i < 5; i++) await invite(api, orgId)
    })
  })

  describe('validation', () => {
    const cases: [string, Record<string, unknown>, number, string, string][] = [
      ['a malformed address', { email_address: 'not-an-email', role: 'org:member' }, 422, 'form_param_format_invalid', 'email_address'],
      ['a missing role', { email_address: 'a@example.com' }, 422, 'form_param_missing', 'role'],
      ['an empty role', { email_address: 'a@example.com', role: ' ' }, 422, 'form_param_missing', 'role'],
      ['a missing address', { role: 'org:member' }, 422, 'form_param_missing', 'email_address'],
      ['an unknown field', { email_address: 'a@example.com', role: 'org:member', colour: 'red' }, 422, 'form_param_unknown', 'colour'],
      ['expires_in_days out of range', { email_address: 'a@example.com', role: 'org:member', expires_in_days: 0 }, 422, 'form_param_value_invalid', 'expires_in_days'],
      ['a redirect_url off the allowed origins', { email_address: 'a@example.com', role: 'org:member', redirect_url: 'https://evil.example.net/x' }, 422, 'form_param_value_invalid', 'redirect_url'],
      ['a relative redirect_url', { email_address: 'a@example.com', role: 'org:member', redirect_url: '/welcome' }, 422, 'form_param_format_invalid', 'redirect_url'],
      ['metadata that is not an object', { email_address: 'a@example.com', role: 'org:member', public_metadata: [1] }, 422, 'form_param_type_invalid', 'public_metadata'],
      ['oversized private metadata', { email_address: 'a@example.com', role: 'org:member', private_metadata: { x: 'y'.repeat(9000) } }, 422, 'form_param_max_length_exceeded', 'private_metadata'],
    ]
    for (const [what, body, status, code, param] of cases) {
      it(`refuses ${what} with ${status} ${code}`, async () => {
        const { api, orgId } = await setupOrg(t)
        const res = await api.post(`/v1/organizations/${orgId}/invitations`, body)
        assert.equal(res.status, status, JSON.stringify(res.body))
        assert.equal(res.body.errors[0].code, code, JSON.stringify(res.body))
        assert.equal(res.body.errors[0].meta?.param_name, param, JSON.stringify(res.body))
        assertMatchesSpec(errorBody(422), res.body, '422')
      })
    }

    it('answers explicit nulls with the defaults', async () => {
      const { api, orgId, instance } = await setupOrg(t)
      const now = t.clock.now(instance)
      const res = await api.post(`/v1/organizations/${orgId}/invitations`, {
        email_address: uniqueEmail(), role: 'org:member', inviter_user_id: null, public_metadata: null, private_metadata: null,
        redirect_url: null, expires_in_days: null, notify: null,
      })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.deepEqual(res.body.public_metadata, {})
      assert.equal(res.body.expires_at, now + 30 * DAY_MS)
    })
  })

  describe('concurrency', () => {
    it('of 10 concurrent creates for one address, exactly one succeeds', async () => {
      const { api, orgId } = await setupOrg(t)
      const email = uniqueEmail()
      const results = await Promise.all(Array.from({ length: 10 }, () =>
        api.post(`/v1/organizations/${orgId}/invitations`, { email_address: email, role: 'org:member', notify: false })))
      assert.deepEqual(results.map((r) => r.status).sort(), [200, ...Array(9).fill(400)])
      for (const r of results.filter((r) => r.status === 400)) assert.equal(r.body.errors[0].code, 'organization_invitation_not_unique')
      const rows = await t.db.query(`select id from organization_invitations where organization_id = $1 and status = 'pending'`, [orgId])
      assert.equal(rows.length, 1)
    })

    it('concurrent creates never take an organization past max_allowed_memberships', async () => {
      const { api, orgId } = await setupOrg(t, { max: 4 })
      const results = await Promise.all(Array.from({ length: 10 }, () =>
        api.post(`/v1/organizations/${orgId}/invitations`, { email_address: uniqueEmail(), role: 'org:member', notify: false })))
      assert.equal(results.filter((r) => r.status === 200).length, 3)
      for (const r of results.filter((r) => r.status !== 200)) {
        assert.equal(r.status, 403)
        assert.equal(r.body.errors[0].code, 'organization_membership_quota_exceeded')
      }
      const [n] = await t.db.query<{ n: number }>(`select count(*)::int as n from organization_invitations where organization_id = $1`, [orgId])
      assert.equal(n!.n, 3)
    })
  })
})

describe('POST /v1/organizations/{id}/invitations rate limit', () => {
  it('answers 429 with Retry-After once the instance\'s create_organization_invitation limit is used up', async () => {
    const t = await buildTestApp()
    try {
      const { api, orgId } = await setupOrg(t)
      assert.equal((await api.patch('/v1/instance', { rate_limits: { create_organization_invitation: 2 } })).status, 200)
      await invite(api, orgId)
      await invite(api, orgId)
      const res = await api.post(`/v1/organizations/${orgId}/invitations`, { email_address: uniqueEmail(), role: 'org:member' })
      assert.equal(res.status, 429)
      assert.equal(res.body.errors[0].code, 'too_many_requests')
      assert.ok(Number(res.headers['retry-after']) > 0)
      // Another instance has its own budget.
      const other = await setupOrg(t)
      await invite(other.api, other.orgId)
    } finally {
      await t.close()
    }
  })
})

describe('GET /v1/openapi.json', () => {
  it('documents the organization invitation operations under Clerk\'s operation ids', async () => {
    const t = await buildTestApp()
    try {
      const res = await t.app.inject({ method: 'GET', url: '/v1/openapi.json' })
      assert.equal(res.statusCode, 200)
      const doc = JSON.parse(res.payload)
      const ops: [string, string, string][] = [
        ['/v1/organizations/{organization_id}/invitations', 'post', 'CreateOrganizationInvitation'],
        ['/v1/organizations/{organization_id}/invitations', 'get', 'ListOrganizationInvitations'],
        ['/v1/organizations/{organization_id}/invitations/bulk', 'post', 'CreateOrganizationInvitationBulk'],
        ['/v1/organizations/{organization_id}/invitations/pending', 'get', 'ListPendingOrganizationInvitations'],
        ['/v1/organizations/{organization_id}/invitations/{invitation_id}', 'get', 'GetOrganizationInvitation'],
        ['/v1/organizations/{organization_id}/invitations/{invitation_id}/revoke', 'post', 'RevokeOrganizationInvitation'],
        ['/v1/organization_invitations', 'get', 'ListInstanceOrganizationInvitations'],
        ['/v1/users/{user_id}/organization_invitations', 'get', 'UsersGetOrganizationInvitations'],
      ]
      for (const [path, method, id] of ops) assert.equal(doc.paths[path]?.[method]?.operationId, id, `${method} ${path}`)
    } finally {
      await t.close()
    }
  })
})
