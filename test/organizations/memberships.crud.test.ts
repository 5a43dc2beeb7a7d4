import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { buildTestApp, client, uniqueEmail, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { addMember, makeOrganization, makeUser } from '../helpers/factories.js'
import { assertMatchesSpec, loadBapiSpec, webhookEventValidator } from '../helpers/spec.js'
import { newId } from '../../src/platform/ids.js'

const spec = loadBapiSpec()

forEachDatabase('organization memberships over the Backend API', (engine) => {
  let t: TestApp
  before(async () => {
    t = await buildTestApp({ engine })
  })
  after(() => t.close())

  /** A new instance with an organization created by its admin. */
  const setup = async (org: Record<string, unknown> = {}) => {
    const { instance, secretKey } = await t.newInstance()
    const api = client(t.app, secretKey)
    const adminEmail = uniqueEmail('admin')
    const admin = await makeUser(t.db, instance.id, adminEmail)
    const organization = await makeOrganization(api, { created_by: admin, ...org })
    return { instance, api, admin, adminEmail, org: organization }
  }

  const person = async (instanceId: string, name: { first?: string; last?: string } = {}, email = uniqueEmail('member')) => {
    const id = await makeUser(t.db, instanceId, email)
    if (name.first || name.last) await t.db.query('update users set first_name = $2, last_name = $3 where id = $1', [id, name.first ?? null, name.last ?? null])
    return { id, email }
  }

  const events = async (instanceId: string, type: string) => {
    const rows = await t.db.query<{ payload: any }>(
      `select payload from outbox where instance_id = $1 and kind = 'webhook' and topic = $2 order by created_at, id`, [instanceId, type])
    return rows.map((r) => r.payload)
  }

  const pendingInvitation = async (instanceId: string, organizationId: string, expiresAt: number, status = 'pending') => {
    await t.db.query(`
      insert into organization_invitations (id, instance_id, organization_id, email_address, role, status, ticket_nonce, ticket_hash, expires_at, created_at, updated_at)
      values ($1, $2, $3, $4, 'org:member', $5, 'n', $6, $7, $8, $8)`,
    [newId('orginv'), instanceId, organizationId, uniqueEmail('invited'), status, newId('msg'), expiresAt, expiresAt - 86_400_000 * 30])
  }

  const assertError = (res: { status: number; body: any }, status: number, code: string, param?: string) => {
    assert.equal(res.status, status, JSON.stringify(res.body))
    assert.equal(res.body.errors[0].code, code, JSON.stringify(res.body))
    if (param) assert.equal(res.body.errors[0].meta?.param_name, param, JSON.stringify(res.body))
    assert.ok(res.body.errors[0].long_message)
  }

  describe('POST /v1/organizations/{id}/memberships', () => {
    it('adds an existing user with a role and metadata, in Clerk\'s shape, and queues organizationMembership.created', async () => {
      const { instance, api, org } = await setup()
      const grace = await person(instance.id, { first: 'Grace', last: 'Hopper' })
      const res = await api.post(`/v1/organizations/${org.id}/memberships`, {
        user_id: grace.id, role: 'org:member', public_metadata: { team: 'compilers' }, private_metadata: { badge: 42 },
      })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assertMatchesSpec(spec.response('CreateOrganizationMembership', 200), res.body, 'POST memberships 200 body')
      const m = res.body
      assert.match(m.id, /^orgmem_[0-9A-Za-z]{27}$/)
      assert.equal(m.object, 'organization_membership')
      assert.equal(m.role, 'org:member')
      assert.equal(m.role_name, 'Member')
      assert.deepEqual(m.permissions, ['org:sys_memberships:read', 'org:sys_domains:read'])
      assert.deepEqual(m.public_metadata, { team: 'compilers' })
      assert.deepEqual(m.private_metadata, { badge: 42 })
      assert.equal(m.organization.id, org.id)
      assert.deepEqual(m.public_user_data, {
        user_id: grace.id, first_name: 'Grace', last_name: 'Hopper', profile_image_url: null, image_url: '', has_image: false,
        identifier: grace.email, username: null,
      })

      const created = await events(instance.id, 'organizationMembership.created')
      assert.equal(created.length, 2)
      const event = created.find((e) => e.data.id === m.id)
      assertMatchesSpec(webhookEventValidator('organizationMembership.created'), event, 'organizationMembership.created payload')
      assert.deepEqual(event, { data: m, object: 'event', type: 'organizationMembership.created', timestamp: m.created_at, instance_id: instance.id })
    })

    it('refuses an unknown role (422, role), user (404, user_id) or organization (404), and a member twice (400)', async () => {
      const { instance, api, admin, org } = await setup()
      const grace = await person(instance.id)
      const badRole = await api.post(`/v1/organizations/${org.id}/memberships`, { user_id: grace.id, role: 'org:nobody' })
      assertError(badRole, 422, 'form_param_value_invalid', 'role')
      assertMatchesSpec(spec.response('CreateOrganizationMembership', 422), badRole.body, '422 body')

      const noUser = await api.post(`/v1/organizations/${org.id}/memberships`, { user_id: newId('user'), role: 'org:member' })
      assertError(noUser, 404, 'resource_not_found', 'user_id')
      assertMatchesSpec(spec.response('CreateOrganizationMembership', 404), noUser.body, '404 body')

      // A user of another instance does not exist here.
      const other = await t.newInstance()
      const stranger = await makeUser(t.db, other.instance.id, uniqueEmail('stranger'))
      assertError(await api.post(`/v1/organizations/${org.id}/memberships`, { user_id: stranger, role: 'org:member' }), 404, 'resource_not_found', 'user_id')

      assertError(await api.post(`/v1/organizations/${newId('org')}/memberships`, { user_id: grace.id, role: 'org:member' }), 404, 'resource_not_found')

      const twice = await api.post(`/v1/organizations/${org.id}/memberships`, { user_id: admin, role: 'org:member' })
      assertError(twice, 400, 'already_a_member_in_organization', 'user_id')
      assertMatchesSpec(spec.response('CreateOrganizationMembership', 400), twice.body, '400 body')

      assertError(await api.post(`/v1/organizations/${org.id}/memberships`, { user_id: grace.id }), 422, 'form_param_missing', 'role')
      assertError(await api.post(`/v1/organizations/${org.id}/memberships`, { user_id: grace.id, role: 'org:member', public_metadata: { blob: 'x'.repeat(9000) } }),
        422, 'form_param_max_length_exceeded', 'public_metadata')
      assert.equal((await api.get(`/v1/organizations/${org.id}/memberships`)).body.total_count, 1)
      assert.equal((await events(instance.id, 'organizationMembership.created')).length, 1)
    })

    it('lets exactly one of two concurrent adds of the same user win', async () => {
      const { instance, api, org } = await setup()
      const grace = await person(instance.id)
      const results = await Promise.all([1, 2].map(() => api.post(`/v1/organizations/${org.id}/memberships`, { user_id: grace.id, role: 'org:member' })))
      assert.deepEqual(results.map((r) => r.status).sort(), [200, 400])
      assert.equal((await api.get(`/v1/organizations/${org.id}/memberships`)).body.total_count, 2)
    })
  })

  describe('max_allowed_memberships', () => {
    it('counts members plus pending, unexpired invitations; 0 means no limit', async () => {
      const { instance, api, org } = await setup({ max_allowed_memberships: 3 })
      const now = t.clock.now(instance)
      await pendingInvitation(instance.id, org.id, now + 86_400_000)
      // Neither an expired nor a revoked invitation holds a seat.
      await pendingInvitation(instance.id, org.id, now - 1)
      await pendingInvitation(instance.id, org.id, now + 86_400_000, 'revoked')
      const a = await person(instance.id)
      const b = await person(instance.id)
      await addMember(api, org.id, a.id)
      const full = await api.post(`/v1/organizations/${org.id}/memberships`, { user_id: b.id, role: 'org:member' })
      assertError(full, 403, 'organization_membership_quota_exceeded')
      assertMatchesSpec(spec.response('CreateOrganizationMembership', 403), full.body, '403 body')

      const counted = await api.get(`/v1/organizations/${org.id}?include_members_count=true`)
      assert.equal(counted.body.members_count, 2)
      assert.equal(counted.body.pending_invitations_count, 1)

      // Raising the limit, or lifting it, makes room.
      await api.patch(`/v1/organizations/${org.id}`, { max_allowed_memberships: 0 })
      await addMember(api, org.id, b.id)
      // Lowering it below the seats taken removes no one.
      const lowered = await api.patch(`/v1/organizations/${org.id}`, { max_allowed_memberships: 1 })
      assert.equal(lowered.status, 200)
      assert.equal((await api.get(`/v1/organizations/${org.id}/memberships`)).body.total_count, 3)
      const c = await person(instance.id)
      assertError(await api.post(`/v1/organizations/${org.id}/memberships`, { user_id: c.id, role: 'org:member' }), 403, 'organization_membership_quota_exceeded')
    })

    it('holds under concurrent adds: the organization row is locked while seats are counted', async () => {
      const { instance, api, org } = await setup({ max_allowed_memberships: 4 })
      const people = await Promise.all([1, 2, 3, 4, 5, 6].map(() => person(instance.id)))
      const results = await Promise.all(people.map((p) => api.post(`/v1/organizations/${org.id}/memberships`, { user_id: p.id, role: 'org:member' })))
      assert.deepEqual(results.map((r) => r.status).sort(), [200, 200, 200, 403, 403, 403])
      assert.equal((await api.get(`/v1/organizations/${org.id}/memberships`)).body.total_count, 4)
    })

    it('lets a creator in even when the limit is 1', async () => {
      const { api, org } = await setup({ max_allowed_memberships: 1 })
      assert.equal((await api.get(`/v1/organizations/${org.id}/memberships`)).body.total_count, 1)
    })
  })

  describe('GET /v1/organizations/{id}/memberships', () => {
    it('answers {data,total_count}, newest first, filtered, ordered and paged', async () => {
      const { instance, api, admin, org } = await setup()
      const zed = await person(instance.id, { first: 'Zed', last: 'Alpha' }, `a.${uniqueEmail('zed')}`)
      const amy = await person(instance.id, { first: 'amy', last: 'Zulu' }, `z.${uniqueEmail('amy')}`)
      t.clock.advance(1000)
      await addMember(api, org.id, zed.id, 'org:member')
      t.clock.advance(1000)
      await addMember(api, org.id, amy.id, 'org:admin')

      const list = await api.get(`/v1/organizations/${org.id}/memberships`)
      assert.equal(list.status, 200)
      assertMatchesSpec(spec.response('ListOrganizationMemberships', 200), list.body, 'list 200 body')
      const users = (res: any) => res.body.data.map((m: any) => m.public_user_data.user_id)
      assert.deepEqual(users(list), [amy.id, zed.id, admin])
      assert.equal(list.body.total_count, 3)

      const q = async (qs: string) => {
        const res = await api.get(`/v1/organizations/${org.id}/memberships?${qs}`)
        assert.equal(res.status, 200, JSON.stringify(res.body))
        return res
      }
      assert.deepEqual(users(await q('role=org:admin')), [amy.id, admin])
      assert.deepEqual(users(await q('role=org:admin&role=org:member')), [amy.id, zed.id, admin])
      assert.deepEqual(users(await q(`email_address=${encodeURIComponent(zed.email.toUpperCase())}`)), [zed.id])
      assert.deepEqual(users(await q(`user_id=${zed.id}&user_id=${admin}`)), [zed.id, admin])
      assert.deepEqual(users(await q(`user_id=-${zed.id}`)), [amy.id, admin])
      assert.deepEqual(users(await q('query=ZULU')), [amy.id])
      assert.deepEqual(users(await q('name_query=zed')), [zed.id])
      assert.deepEqual(users(await q('email_address_query=amy')), [amy.id])
      assert.deepEqual(users(await q('order_by=first_name')), [amy.id, zed.id, admin])
      assert.deepEqual(users(await q('order_by=-last_name')), [amy.id, zed.id, admin])
      assert.deepEqual(users(await q('order_by=email_address')), [zed.id, admin, amy.id])
      assert.deepEqual(users(await q('order_by=+created_at')), [admin, zed.id, amy.id])
      const page = await q('limit=1&offset=1')
      assert.deepEqual(users(page), [zed.id])
      assert.equal(page.body.total_count, 3)
      const past = await q('offset=5')
      assert.deepEqual(past.body, { data: [], total_count: 3 })

      const bad = await api.get(`/v1/organizations/${org.id}/memberships?order_by=phone`)
      assertError(bad, 422, 'form_param_value_invalid', 'order_by')
      assertMatchesSpec(spec.response('ListOrganizationMemberships', 422), bad.body, '422 body')
      assertError(await api.get(`/v1/organizations/${newId('org')}/memberships`), 404, 'resource_not_found')
    })
  })

  describe('GET /v1/users/{id}/organization_memberships', () => {
    it('lists the user\'s memberships across organizations, newest first, paged', async () => {
      const { instance, api, admin, org } = await setup()
      t.clock.advance(1000)
      const second = await makeOrganization(api, { created_by: admin })
      const res = await api.get(`/v1/users/${admin}/organization_memberships`)
      assert.equal(res.status, 200)
      assertMatchesSpec(spec.response('UsersGetOrganizationMemberships', 200), res.body, 'user memberships 200 body')
      assert.deepEqual(res.body.data.map((m: any) => m.organization.id), [second.id, org.id])
      assert.equal(res.body.total_count, 2)
      const page = await api.get(`/v1/users/${admin}/organization_memberships?limit=1&offset=1`)
      assert.deepEqual(page.body.data.map((m: any) => m.organization.id), [org.id])
      assert.equal(page.body.total_count, 2)
      const loner = await person(instance.id)
      assert.deepEqual((await api.get(`/v1/users/${loner.id}/organization_memberships`)).body, { data: [], total_count: 0 })
      assertError(await api.get(`/v1/users/${newId('user')}/organization_memberships`), 404, 'resource_not_found')
    })
  })

  describe('PATCH /v1/organizations/{id}/memberships/{user_id}', () => {
    it('changes the role (and its permissions) and queues organizationMembership.updated', async () => {
      const { instance, api, org } = await setup()
      const grace = await person(instance.id)
      await addMember(api, org.id, grace.id, 'org:member', { public_metadata: { a: 1 } })
      t.clock.advance(1000)
      const res = await api.patch(`/v1/organizations/${org.id}/memberships/${grace.id}`, { role: 'org:admin' })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assertMatchesSpec(spec.response('UpdateOrganizationMembership', 200), res.body, 'PATCH 200 body')
      assert.equal(res.body.role, 'org:admin')
      assert.equal(res.body.role_name, 'Admin')
      assert.ok(res.body.permissions.includes('org:sys_memberships:manage'))
      assert.deepEqual(res.body.public_metadata, { a: 1 })
      assert.equal(res.body.updated_at, res.body.created_at + 1000)

      const updated = await events(instance.id, 'organizationMembership.updated')
      assert.equal(updated.length, 1)
      assertMatchesSpec(webhookEventValidator('organizationMembership.updated'), updated[0], 'organizationMembership.updated payload')
      assert.deepEqual(updated[0].data, res.body)

      // Metadata may come along (a Foyer extension), replacing what is given.
      const withMeta = await api.patch(`/v1/organizations/${org.id}/memberships/${grace.id}`, { role: 'org:admin', private_metadata: { p: true } })
      assert.deepEqual(withMeta.body.private_metadata, { p: true })
      assert.deepEqual(withMeta.body.public_metadata, { a: 1 })
    })

    it('refuses an unknown role (422), a non-member (404) and taking the last manager\'s permission (422)', async () => {
      const { instance, api, admin, org } = await setup()
      const grace = await person(instance.id)
      await addMember(api, org.id, grace.id)
      assertError(await api.patch(`/v1/organizations/${org.id}/memberships/${grace.id}`, { role: 'org:nobody' }), 422, 'form_param_value_invalid', 'role')
      const stranger = await person(instance.id)
      const notMember = await api.patch(`/v1/organizations/${org.id}/memberships/${stranger.id}`, { role: 'org:member' })
      assertError(notMember, 404, 'resource_not_found')
      assertMatchesSpec(spec.response('UpdateOrganizationMembership', 404), notMember.body, '404 body')

      const last = await api.patch(`/v1/organizations/${org.id}/memberships/${admin}`, { role: 'org:member' })
      assertError(last, 422, 'organization_minimum_permissions_needed')
      assertMatchesSpec(spec.response('UpdateOrganizationMembership', 422), last.body, '422 body')
      // Keeping the same role is no loss.
      assert.equal((await api.patch(`/v1/organizations/${org.id}/memberships/${admin}`, { role: 'org:admin' })).status, 200)

      // With a second manager, the first may step down.
      await api.patch(`/v1/organizations/${org.id}/memberships/${grace.id}`, { role: 'org:admin' })
      const stepDown = await api.patch(`/v1/organizations/${org.id}/memberships/${admin}`, { role: 'org:member' })
      assert.equal(stepDown.status, 200, JSON.stringify(stepDown.body))
      assertError(await api.patch(`/v1/organizations/${org.id}/memberships/${grace.id}`, { role: 'org:member' }), 422, 'organization_minimum_permissions_needed')
    })

    it('lets only one of two managers demote themselves at the same time', async () => {
      const { instance, api, admin, org } = await setup()
      const grace = await person(instance.id)
      await addMember(api, org.id, grace.id, 'org:admin')
      const results = await Promise.all([admin, grace.id].map((id) => api.patch(`/v1/organizations/${org.id}/memberships/${id}`, { role: 'org:member' })))
      assert.deepEqual(results.map((r) => r.status).sort(), [200, 422])
      const admins = await api.get(`/v1/organizations/${org.id}/memberships?role=org:admin`)
      assert.equal(admins.body.total_count, 1)
    })
  })

  describe('PATCH /v1/organizations/{id}/memberships/{user_id}/metadata', () => {
    it('deep-merges metadata and queues organizationMembership.updated', async () => {
      const { instance, api, org } = await setup()
      const grace = await person(instance.id)
      await addMember(api, org.id, grace.id, 'org:member', { public_metadata: { a: 1, deep: { x: 1 } }, private_metadata: { s: 1 } })
      const res = await api.patch(`/v1/organizations/${org.id}/memberships/${grace.id}/metadata`, { public_metadata: { a: null, deep: { y: 2 } } })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assertMatchesSpec(spec.response('UpdateOrganizationMembershipMetadata', 200), res.body, 'metadata 200 body')
      assert.deepEqual(res.body.public_metadata, { deep: { x: 1, y: 2 } })
      assert.deepEqual(res.body.private_metadata, { s: 1 })
      assert.equal((await events(instance.id, 'organizationMembership.updated')).length, 1)
      assertError(await api.patch(`/v1/organizations/${org.id}/memberships/${grace.id}/metadata`, { private_metadata: { blob: 'x'.repeat(9000) } }),
        422, 'form_param_max_length_exceeded', 'private_metadata')
      assertError(await api.patch(`/v1/organizations/${org.id}/memberships/${newId('user')}/metadata`, { public_metadata: {} }), 404, 'resource_not_found')
    })
  })

  describe('DELETE /v1/organizations/{id}/memberships/{user_id}', () => {
    it('removes the member, answers the membership as it was and queues organizationMembership.deleted', async () => {
      const { instance, api, org } = await setup()
      const grace = await person(instance.id)
      const added = await addMember(api, org.id, grace.id)
      const res = await api.delete(`/v1/organizations/${org.id}/memberships/${grace.id}`)
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assertMatchesSpec(spec.response('DeleteOrganizationMembership', 200), res.body, 'DELETE 200 body')
      assert.deepEqual(res.body, added)
      assert.equal((await api.get(`/v1/organizations/${org.id}/memberships`)).body.total_count, 1)

      const deleted = await events(instance.id, 'organizationMembership.deleted')
      assert.equal(deleted.length, 1)
      assertMatchesSpec(webhookEventValidator('organizationMembership.deleted'), deleted[0], 'organizationMembership.deleted payload')
      assert.deepEqual(deleted[0].data, added)

      const again = await api.delete(`/v1/organizations/${org.id}/memberships/${grace.id}`)
      assertError(again, 404, 'resource_not_found')
      assertMatchesSpec(spec.response('DeleteOrganizationMembership', 404), again.body, '404 body')
      // Removed, they can be added again.
      assert.equal((await api.post(`/v1/organizations/${org.id}/memberships`, { user_id: grace.id, role: 'org:member' })).status, 200)
    })

    it('refuses to remove the last member holding org:sys_memberships:manage, whatever the role is called', async () => {
      const { instance, api, admin, org } = await setup()
      const last = await api.delete(`/v1/organizations/${org.id}/memberships/${admin}`)
      assertError(last, 422, 'organization_minimum_permissions_needed')
      assertMatchesSpec(spec.response('DeleteOrganizationMembership', 422), last.body, '422 body')

      // A custom role holding the permission counts as a manager.
      const role = await api.post('/v1/organization_roles', { key: 'org:owner', name: 'Owner', permissions: ['org:sys_memberships:manage'] })
      assert.equal(role.status, 200, JSON.stringify(role.body))
      const grace = await person(instance.id)
      await addMember(api, org.id, grace.id, 'org:owner')
      assert.equal((await api.delete(`/v1/organizations/${org.id}/memberships/${admin}`)).status, 200)
      assertError(await api.delete(`/v1/organizations/${org.id}/memberships/${grace.id}`), 422, 'organization_minimum_permissions_needed')
      assert.equal((await events(instance.id, 'organizationMembership.deleted')).length, 1)
    })

    it('lets only one of two managers be removed at the same time', async () => {
      const { instance, api, admin, org } = await setup()
      const grace = await person(instance.id)
      await addMember(api, org.id, grace.id, 'org:admin')
      const results = await Promise.all([admin, grace.id].map((id) => api.delete(`/v1/organizations/${org.id}/memberships/${id}`)))
      assert.deepEqual(results.map((r) => r.status).sort(), [200, 422])
      assert.equal((await api.get(`/v1/organizations/${org.id}/memberships`)).body.total_count, 1)
    })
  })

  describe('hasPermission (for invitations and acceptance)', () => {
    it('answers whether a member\'s role holds a permission', async () => {
      const { instance, api, admin, org } = await setup()
      const grace = await person(instance.id)
      await addMember(api, org.id, grace.id)
      const has = (userId: string, permission: string) => t.services.memberships.hasPermission(t.db, instance.id, org.id, userId, permission)
      assert.equal(await has(admin, 'org:sys_memberships:manage'), true)
      assert.equal(await has(admin, 'org:billing:manage'), false)
      assert.equal(await has(grace.id, 'org:sys_memberships:manage'), false)
      assert.equal(await has(grace.id, 'org:sys_memberships:read'), true)
      assert.equal(await has((await person(instance.id)).id, 'org:sys_memberships:read'), false)
      // Another instance's view of the same ids finds nothing.
      const other = await t.newInstance()
      assert.equal(await t.services.memberships.hasPermission(t.db, other.instance.id, org.id, admin, 'org:sys_memberships:manage'), false)
    })
  })
})
