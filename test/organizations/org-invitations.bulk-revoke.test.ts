import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { buildTestApp, uniqueEmail, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { assertMatchesSpec, loadBapiSpec } from '../helpers/spec.js'
import { DAY_MS } from '../../src/platform/clock.js'
import { invite, makePerson, setupOrg } from './org-invitations.fixtures.js'

const spec = loadBapiSpec()

forEachDatabase('POST /v1/organizations/{id}/invitations/bulk', (engine) => {
  let t: TestApp
  before(async () => {
    t = await buildTestApp({ engine })
  })
  after(() => t.close())

  it('creates up to 10 at once and answers {data, total_count} in the order given', async () => {
    const { api, orgId, admin } = await setupOrg(t)
    const emails = Array.from({ length: 10 }, () => uniqueEmail('bulk'))
    const res = await api.post(`/v1/organizations/${orgId}/invitations/bulk`,
      emails.map((email_address, i) => ({ email_address, role: i % 2 ? 'org:admin' : 'org:member', inviter_user_id: admin.id, notify: i === 0 })))
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assertMatchesSpec(spec.response('CreateOrganizationInvitationBulk', 200), res.body, 'bulk 200')
    assert.equal(res.body.total_count, 10)
    assert.deepEqual(res.body.data.map((i: any) => i.email_address), emails)
    assert.deepEqual(res.body.data.map((i: any) => i.role_name).slice(0, 2), ['Member', 'Admin'])
    assert.equal(res.body.data[3].public_inviter_data.identifier, admin.email)
    const emailsQueued = await t.db.query(`select id from outbox where kind = 'email' and topic = 'organization_invitation' and subject_id = any($1::text[])`, [res.body.data.map((i: any) => i.id)])
    assert.equal(emailsQueued.length, 1, 'notify is per item')
  })

  it('is all or nothing: one refused item rolls back the batch and the error names it', async () => {
    const { api, orgId, instance } = await setupOrg(t)
    const member = await makePerson(api, orgId, 'org:member')
    const cases: [unknown[], number, string, string][] = [
      [[{ email_address: uniqueEmail(), role: 'org:member' }, { email_address: member.email, role: 'org:member' }], 400, 'already_a_member_in_organization', '[1].email_address'],
      [[{ email_address: uniqueEmail(), role: 'org:member' }, { email_address: uniqueEmail(), role: 'org:nope' }], 404, 'resource_not_found', '[1].role'],
      [[{ email_address: uniqueEmail(), role: 'org:member' }, { email_address: 'bad', role: 'org:member' }], 422, 'form_param_format_invalid', '[1].email_address'],
      [[{ email_address: uniqueEmail(), role: 'org:member', inviter_user_id: member.id }], 403, 'missing_organization_permission', '[0].inviter_user_id'],
    ]
    const same = uniqueEmail()
    cases.push([[{ email_address: same, role: 'org:member' }, { email_address: same.toUpperCase(), role: 'org:admin' }], 400, 'organization_invitation_not_unique', '[1].email_address'])
    for (const [body, status, code, param] of cases) {
      const res = await api.post(`/v1/organizations/${orgId}/invitations/bulk`, body)
      assert.equal(res.status, status, JSON.stringify(res.body))
      assert.equal(res.body.errors[0].code, code)
      assert.equal(res.body.errors[0].meta.param_name, param)
    }
    const rows = await t.db.query('select id from organization_invitations where organization_id = $1', [orgId])
    assert.equal(rows.length, 0)
    const events = await t.db.query(`select id from outbox where instance_id = $1 and topic like 'organizationInvitation.%'`, [instance.id])
    assert.equal(events.length, 0)
  })

  it('refuses an empty list, more than 10 items, or a body that is not a list with 422', async () => {
    const { api, orgId } = await setupOrg(t)
    const item = () => ({ email_address: uniqueEmail(), role: 'org:member' })
    for (const body of [[], Array.from({ length: 11 }, item), item()]) {
      const res = await api.post(`/v1/organizations/${orgId}/invitations/bulk`, body)
      assert.equal(res.status, 422, JSON.stringify(res.body))
      assertMatchesSpec(spec.response('CreateOrganizationInvitationBulk', 422), res.body, '422')
    }
  })

  it('counts the whole batch against max_allowed_memberships', async () => {
    const { api, orgId } = await setupOrg(t, { max: 3 })
    const body = Array.from({ length: 3 }, () => ({ email_address: uniqueEmail(), role: 'org:member' }))
    const res = await api.post(`/v1/organizations/${orgId}/invitations/bulk`, body)
    assert.equal(res.status, 403)
    assert.equal(res.body.errors[0].code, 'organization_membership_quota_exceeded')
    const ok = await api.post(`/v1/organizations/${orgId}/invitations/bulk`, body.slice(0, 2))
    assert.equal(ok.status, 200)
  })

  it('answers 404 for an unknown organization', async () => {
    const { api } = await setupOrg(t)
    const res = await api.post('/v1/organizations/org_nope/invitations/bulk', [{ email_address: uniqueEmail(), role: 'org:member' }])
    assert.equal(res.status, 404)
  })
})

forEachDatabase('POST /v1/organizations/{id}/invitations/{inv_id}/revoke', (engine) => {
  let t: TestApp
  before(async () => {
    t = await buildTestApp({ engine })
  })
  after(() => t.close())

  it('revokes a pending invitation, queues organizationInvitation.revoked, and refuses a second revoke with 404 organization_invitation_not_pending', async () => {
    const { api, orgId, instance } = await setupOrg(t)
    const inv = await invite(api, orgId)
    t.clock.advance(1000)
    const res = await api.post(`/v1/organizations/${orgId}/invitations/${inv.id}/revoke`)
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assertMatchesSpec(spec.response('RevokeOrganizationInvitation', 200), res.body, 'revoke 200')
    assert.equal(res.body.status, 'revoked')
    assert.equal(res.body.updated_at, t.clock.now(instance))
    assert.equal(res.body.url, inv.url)
    const events = await t.db.query<{ topic: string }>(`select topic from outbox where subject_id = $1 and kind = 'webhook' order by created_at, topic`, [inv.id])
    assert.deepEqual(events.map((e) => e.topic).sort(), ['organizationInvitation.created', 'organizationInvitation.revoked'])

    const again = await api.post(`/v1/organizations/${orgId}/invitations/${inv.id}/revoke`, {})
    assert.equal(again.status, 404)
    assertMatchesSpec(spec.response('RevokeOrganizationInvitation', 404), again.body, '404')
    assert.equal(again.body.errors[0].code, 'organization_invitation_not_pending')
  })

  it('refuses to revoke an expired or accepted invitation', async () => {
    const { api, orgId } = await setupOrg(t)
    const expired = await invite(api, orgId, { expires_in_days: 1 })
    const accepted = await invite(api, orgId)
    await t.db.query(`update organization_invitations set status = 'accepted' where id = $1`, [accepted.id])
    t.clock.advance(DAY_MS + 1)
    for (const inv of [expired, accepted]) {
      const res = await api.post(`/v1/organizations/${orgId}/invitations/${inv.id}/revoke`)
      assert.equal(res.status, 404)
      assert.equal(res.body.errors[0].code, 'organization_invitation_not_pending')
    }
  })

  it('requires requesting_user_id, when given, to hold org:sys_memberships:manage', async () => {
    const { api, orgId, instance, admin } = await setupOrg(t)
    const inv = await invite(api, orgId)
    const member = await makePerson(api, orgId, 'org:member')
    const outsider = await makePerson(api, null, null)
    const asMember = await api.post(`/v1/organizations/${orgId}/invitations/${inv.id}/revoke`, { requesting_user_id: member.id })
    assert.equal(asMember.status, 403)
    assertMatchesSpec(spec.response('RevokeOrganizationInvitation', 403), asMember.body, '403')
    assert.equal(asMember.body.errors[0].code, 'missing_organization_permission')
    const asOutsider = await api.post(`/v1/organizations/${orgId}/invitations/${inv.id}/revoke`, { requesting_user_id: outsider.id })
    assert.equal(asOutsider.status, 403)
    assert.equal(asOutsider.body.errors[0].code, 'not_a_member_in_organization')
    assert.equal((await api.get(`/v1/organizations/${orgId}/invitations/${inv.id}`)).body.status, 'pending')
    const asAdmin = await api.post(`/v1/organizations/${orgId}/invitations/${inv.id}/revoke`, { requesting_user_id: admin.id })
    assert.equal(asAdmin.status, 200)
    assert.equal(asAdmin.body.status, 'revoked')
  })

  it('answers 404 for an unknown invitation, one of another organization, or an unknown organization', async () => {
    const { api, orgId } = await setupOrg(t)
    const other = await setupOrg(t)
    const theirs = await invite(other.api, other.orgId)
    const unknown = await api.post(`/v1/organizations/${orgId}/invitations/orginv_nope/revoke`)
    assert.equal(unknown.status, 404)
    assert.equal(unknown.body.errors[0].code, 'organization_invitation_not_found')
    assert.equal((await api.post(`/v1/organizations/${orgId}/invitations/${theirs.id}/revoke`)).status, 404)
    const noOrg = await api.post(`/v1/organizations/org_nope/invitations/${theirs.id}/revoke`)
    assert.equal(noOrg.status, 404)
    assert.equal(noOrg.body.errors[0].code, 'resource_not_found')
    assert.equal((await other.api.get(`/v1/organizations/${other.orgId}/invitations/${theirs.id}`)).body.status, 'pending')
  })

  it('of concurrent revokes, exactly one succeeds', async () => {
    const { api, orgId, instance } = await setupOrg(t)
    const inv = await invite(api, orgId)
    const results = await Promise.all(Array.from({ length: 5 }, () => api.post(`/v1/organizations/${orgId}/invitations/${inv.id}/revoke`)))
    assert.deepEqual(results.map((r) => r.status).sort(), [200, 404, 404, 404, 404])
    const events = await t.db.query(`select id from outbox where instance_id = $1 and topic = 'organizationInvitation.revoked'`, [instance.id])
    assert.equal(events.length, 1)
  })
})

describe('POST /v1/organizations/{id}/invitations/bulk rate limit', () => {
  it('answers 429 once create_organization_invitation_bulk is used up, apart from the single-create budget', async () => {
    const t = await buildTestApp()
    try {
      const { api, orgId } = await setupOrg(t)
      assert.equal((await api.patch('/v1/instance', { rate_limits: { create_organization_invitation_bulk: 1 } })).status, 200)
      const one = () => [{ email_address: uniqueEmail(), role: 'org:member', notify: false }]
      assert.equal((await api.post(`/v1/organizations/${orgId}/invitations/bulk`, one())).status, 200)
      const res = await api.post(`/v1/organizations/${orgId}/invitations/bulk`, one())
      assert.equal(res.status, 429)
      assert.ok(Number(res.headers['retry-after']) > 0)
      await invite(api, orgId)
    } finally {
      await t.close()
    }
  })
})
