import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { buildTestApp, uniqueEmail, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { assertMatchesSpec, loadBapiSpec } from '../helpers/spec.js'
import { DAY_MS } from '../../src/platform/clock.js'
import { invite, makeOrg, makePerson, setupOrg } from './org-invitations.fixtures.js'

const spec = loadBapiSpec()

forEachDatabase('listing organization invitations', (engine) => {
  let t: TestApp
  before(async () => {
    t = await buildTestApp({ engine })
  })
  after(() => t.close())

  /** An organization with one invitation in each status, created a second apart (oldest first). */
  async function withEveryStatus() {
    const setup = await setupOrg(t)
    const { api, orgId } = setup
    const next = async (body: Record<string, unknown> = {}) => {
      t.clock.advance(1000)
      return invite(api, orgId, body)
    }
    const pending = await next({ email_address: uniqueEmail('b-pending') })
    const expired = await next({ email_address: uniqueEmail('d-expired'), expires_in_days: 1 })
    const revoked = await next({ email_address: uniqueEmail('a-revoked') })
    const accepted = await next({ email_address: uniqueEmail('c-accepted') })
    const declined = await next({ email_address: uniqueEmail('e-declined') })
    await api.post(`/v1/organizations/${orgId}/invitations/${revoked.id}/revoke`)
    await t.db.query(`update organization_invitations set status = 'accepted' where id = $1`, [accepted.id])
    await t.db.query(`update organization_invitations set status = 'declined' where id = $1`, [declined.id])
    t.clock.advance(DAY_MS)
    return { ...setup, pending, expired, revoked, accepted, declined }
  }

  describe('GET /v1/organizations/{id}/invitations', () => {
    it('answers {data, total_count}, newest first, every status by default', async () => {
      const s = await withEveryStatus()
      const res = await s.api.get(`/v1/organizations/${s.orgId}/invitations`)
      assert.equal(res.status, 200)
      assertMatchesSpec(spec.response('ListOrganizationInvitations', 200), res.body, 'list 200')
      assert.equal(res.body.total_count, 5)
      assert.deepEqual(res.body.data.map((i: any) => i.id), [s.declined.id, s.accepted.id, s.revoked.id, s.expired.id, s.pending.id])
      assert.deepEqual(res.body.data.map((i: any) => i.status), ['declined', 'accepted', 'revoked', 'expired', 'pending'])
      assert.ok(res.body.data.every((i: any) => i.url.startsWith('http://foyer.test/v1/tickets/accept?ticket=')))
    })

    it('filters by status, one or several (the key repeated), expired included', async () => {
      const s = await withEveryStatus()
      const ids = async (qs: string) => {
        const res = await s.api.get(`/v1/organizations/${s.orgId}/invitations?${qs}`)
        assert.equal(res.status, 200, JSON.stringify(res.body))
        assert.equal(res.body.total_count, res.body.data.length)
        return res.body.data.map((i: any) => i.id)
      }
      assert.deepEqual(await ids('status=pending'), [s.pending.id])
      assert.deepEqual(await ids('status=expired'), [s.expired.id])
      assert.deepEqual(await ids('status=revoked'), [s.revoked.id])
      assert.deepEqual(await ids('status=accepted'), [s.accepted.id])
      assert.deepEqual(await ids('status=declined'), [s.declined.id])
      assert.deepEqual(await ids('status=pending&status=accepted'), [s.accepted.id, s.pending.id])
      const bad = await s.api.get(`/v1/organizations/${s.orgId}/invitations?status=lost`)
      assert.equal(bad.status, 422)
      assert.equal(bad.body.errors[0].meta.param_name, 'status')
    })

    it('pages with limit and offset; total_count counts every match', async () => {
      const s = await withEveryStatus()
      const page = await s.api.get(`/v1/organizations/${s.orgId}/invitations?limit=2&offset=1`)
      assert.deepEqual(page.body.data.map((i: any) => i.id), [s.accepted.id, s.revoked.id])
      assert.equal(page.body.total_count, 5)
      const past = await s.api.get(`/v1/organizations/${s.orgId}/invitations?limit=2&offset=10`)
      assert.deepEqual(past.body, { data: [], total_count: 5 })
      assert.equal((await s.api.get(`/v1/organizations/${s.orgId}/invitations?limit=0`)).status, 422)
      assert.equal((await s.api.get(`/v1/organizations/${s.orgId}/invitations?limit=501`)).status, 422)
      assert.equal((await s.api.get(`/v1/organizations/${s.orgId}/invitations?offset=-1`)).status, 422)
    })

    it('orders by email_address or created_at, + when no sign is given', async () => {
      const s = await withEveryStatus()
      const order = async (o: string) => (await s.api.get(`/v1/organizations/${s.orgId}/invitations?order_by=${encodeURIComponent(o)}`)).body.data.map((i: any) => i.id)
      assert.deepEqual(await order('email_address'), [s.revoked.id, s.pending.id, s.accepted.id, s.expired.id, s.declined.id])
      assert.deepEqual(await order('-email_address'), [s.declined.id, s.expired.id, s.accepted.id, s.pending.id, s.revoked.id])
      assert.deepEqual(await order('+created_at'), [s.pending.id, s.expired.id, s.revoked.id, s.accepted.id, s.declined.id])
      const bad = await s.api.get(`/v1/organizations/${s.orgId}/invitations?order_by=role`)
      assert.equal(bad.status, 422)
      assert.equal(bad.body.errors[0].meta.param_name, 'order_by')
    })

    it('filters by email_address, exactly and without case', async () => {
      const s = await withEveryStatus()
      const res = await s.api.get(`/v1/organizations/${s.orgId}/invitations?email_address=${encodeURIComponent(s.accepted.email_address.toUpperCase())}`)
      assert.deepEqual(res.body.data.map((i: any) => i.id), [s.accepted.id])
    })

    it('leaves out invitations made by a verified domain, as Clerk does', async () => {
      const s = await setupOrg(t)
      const manual = await invite(s.api, s.orgId)
      const domain = await t.services.orgInvitations.create(s.instance, s.orgId, { email_address: uniqueEmail(), role: 'org:member' }, { source: 'domain', notify: false })
      const res = await s.api.get(`/v1/organizations/${s.orgId}/invitations`)
      assert.deepEqual(res.body.data.map((i: any) => i.id), [manual.id])
      assert.equal((await s.api.get(`/v1/organizations/${s.orgId}/invitations/pending`)).body.total_count, 1)
      // It is an invitation all the same.
      assert.equal((await s.api.get(`/v1/organizations/${s.orgId}/invitations/${domain.id}`)).status, 200)
      const outbox = await t.db.query<{ kind: string }>('select kind from outbox where subject_id = $1', [domain.id])
      assert.deepEqual(outbox.map((o) => o.kind), ['webhook'], 'no email for a domain invitation')
    })

    it('answers 404 for an unknown organization', async () => {
      const { api } = await setupOrg(t)
      const res = await api.get('/v1/organizations/org_nope/invitations')
      assert.equal(res.status, 404)
      assertMatchesSpec(spec.response('ListOrganizationInvitations', 404), res.body, '404')
    })
  })

  describe('GET /v1/organizations/{id}/invitations/pending', () => {
    it('lists only usable pending invitations, newest first, paged', async () => {
      const s = await withEveryStatus()
      const another = await invite(s.api, s.orgId)
      const res = await s.api.get(`/v1/organizations/${s.orgId}/invitations/pending`)
      assert.equal(res.status, 200)
      assertMatchesSpec(spec.response('ListPendingOrganizationInvitations', 200), res.body, 'pending 200')
      assert.deepEqual(res.body.data.map((i: any) => i.id), [another.id, s.pending.id])
      assert.equal(res.body.total_count, 2)
      const page = await s.api.get(`/v1/organizations/${s.orgId}/invitations/pending?limit=1&offset=1`)
      assert.deepEqual(page.body, { data: [res.body.data[1]], total_count: 2 })
      assert.equal((await s.api.get('/v1/organizations/org_nope/invitations/pending')).status, 404)
    })
  })

  describe('GET /v1/organizations/{id}/invitations/{inv_id}', () => {
    it('answers one invitation, and 404 for an unknown one or one of another organization', async () => {
      const s = await setupOrg(t)
      const inv = await invite(s.api, s.orgId, { inviter_user_id: s.admin.id })
      const res = await s.api.get(`/v1/organizations/${s.orgId}/invitations/${inv.id}`)
      assert.equal(res.status, 200)
      assertMatchesSpec(spec.response('GetOrganizationInvitation', 200), res.body, 'get 200')
      assert.deepEqual(res.body, inv)
      const other = await makeOrg(s.api)
      const miss = await s.api.get(`/v1/organizations/${other}/invitations/${inv.id}`)
      assert.equal(miss.status, 404)
      assert.equal(miss.body.errors[0].code, 'organization_invitation_not_found')
      assert.equal((await s.api.get(`/v1/organizations/${s.orgId}/invitations/orginv_nope`)).status, 404)
      const elsewhere = await setupOrg(t)
      assert.equal((await elsewhere.api.get(`/v1/organizations/${s.orgId}/invitations/${inv.id}`)).status, 404, 'another instance sees nothing')
    })

    it('shows a deleted inviter as no inviter data, keeping inviter_id', async () => {
      const s = await setupOrg(t)
      const inviter = await makePerson(s.api, s.orgId, 'org:admin', { first: 'Gone' })
      const inv = await invite(s.api, s.orgId, { inviter_user_id: inviter.id })
      assert.equal((await s.api.delete(`/v1/users/${inviter.id}`)).status, 200)
      const res = await s.api.get(`/v1/organizations/${s.orgId}/invitations/${inv.id}`)
      assert.equal(res.body.inviter_id, inviter.id)
      assert.equal(res.body.public_inviter_data, null)
      assertMatchesSpec(spec.response('GetOrganizationInvitation', 200), res.body, 'without inviter')
    })
  })

  describe('GET /v1/organization_invitations', () => {
    it('lists every organization\'s invitations of the instance with public_organization_data', async () => {
      const s = await setupOrg(t, { name: 'Blue Team' })
      const second = await makeOrg(s.api, { name: 'Red Team' })
      const a = await invite(s.api, s.orgId, { email_address: uniqueEmail('alpha') })
      t.clock.advance(1000)
      const b = await invite(s.api, second, { email_address: uniqueEmail('bravo') })
      t.clock.advance(1000)
      const domain = await t.services.orgInvitations.create(s.instance, second, { email_address: uniqueEmail('charlie'), role: 'org:member' }, { source: 'domain', notify: false })
      await setupOrg(t).then((o) => invite(o.api, o.orgId))

      const res = await s.api.get('/v1/organization_invitations')
      assert.equal(res.status, 200)
      assertMatchesSpec(spec.response('ListInstanceOrganizationInvitations', 200), res.body, 'instance list 200')
      assert.equal(res.body.total_count, 3)
      assert.deepEqual(res.body.data.map((i: any) => i.id), [domain.id, b.id, a.id])
      assert.deepEqual(res.body.data[1].public_organization_data, {
        id: second, name: 'Red Team', slug: res.body.data[1].public_organization_data.slug, image_url: '', has_image: false,
      })
      assert.equal(res.body.data[2].public_organization_data.name, 'Blue Team')

      const q = await s.api.get('/v1/organization_invitations?query=BRAVO')
      assert.deepEqual(q.body.data.map((i: any) => i.id), [b.id])
      const percent = await s.api.get(`/v1/organization_invitations?query=${encodeURIComponent('%')}`)
      assert.equal(percent.body.total_count, 0, 'the query matches literally')
      const ordered = await s.api.get('/v1/organization_invitations?order_by=email_address&limit=2')
      assert.deepEqual(ordered.body.data.map((i: any) => i.id), [a.id, b.id])
      assert.equal(ordered.body.total_count, 3)
      await s.api.post(`/v1/organizations/${s.orgId}/invitations/${a.id}/revoke`)
      const revoked = await s.api.get('/v1/organization_invitations?status=revoked')
      assert.deepEqual(revoked.body.data.map((i: any) => i.id), [a.id])
      assert.equal((await s.api.get('/v1/organization_invitations?order_by=nope')).status, 422)
    })
  })

  describe('GET /v1/users/{id}/organization_invitations', () => {
    it('lists invitations to the user\'s address across organizations, filtered by status', async () => {
      const s = await setupOrg(t, { name: 'One' })
      const person = await makePerson(s.api, null, null)
      const two = await makeOrg(s.api, { name: 'Two' })
      const first = await invite(s.api, s.orgId, { email_address: person.email })
      t.clock.advance(1000)
      const second = await invite(s.api, two, { email_address: person.email.toUpperCase() })
      await invite(s.api, two)
      await s.api.post(`/v1/organizations/${s.orgId}/invitations/${first.id}/revoke`)

      const res = await s.api.get(`/v1/users/${person.id}/organization_invitations`)
      assert.equal(res.status, 200)
      assertMatchesSpec(spec.response('UsersGetOrganizationInvitations', 200), res.body, 'user list 200')
      assert.deepEqual(res.body.data.map((i: any) => i.id), [second.id, first.id])
      assert.equal(res.body.data[0].public_organization_data.name, 'Two')
      const pending = await s.api.get(`/v1/users/${person.id}/organization_invitations?status=pending`)
      assert.deepEqual(pending.body, { data: [res.body.data[0]], total_count: 1 })
      const paged = await s.api.get(`/v1/users/${person.id}/organization_invitations?limit=1&offset=1`)
      assert.deepEqual(paged.body.data.map((i: any) => i.id), [first.id])
      assert.equal(paged.body.total_count, 2)

      const missing = await s.api.get('/v1/users/user_nope/organization_invitations')
      assert.equal(missing.status, 404)
      assertMatchesSpec(spec.response('UsersGetOrganizationInvitations', 404), missing.body, '404')
    })
  })
})
