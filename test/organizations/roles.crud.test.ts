import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { buildTestApp, client, uniqueEmail, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { addMember, makeOrganization, makeUser } from '../helpers/factories.js'
import { assertMatchesSpec, loadBapiSpec } from '../helpers/spec.js'
import { newId } from '../../src/platform/ids.js'

const spec = loadBapiSpec()

const SYSTEM_PERMISSIONS = [
  'org:sys_profile:manage', 'org:sys_profile:delete', 'org:sys_memberships:read', 'org:sys_memberships:manage', 'org:sys_domains:read', 'org:sys_domains:manage',
]

forEachDatabase('organization roles and permissions over the Backend API', (engine) => {
  let t: TestApp
  before(async () => {
    t = await buildTestApp({ engine })
  })
  after(() => t.close())

  const fresh = async () => {
    const { instance, secretKey } = await t.newInstance()
    return { instance, api: client(t.app, secretKey) }
  }

  const assertError = (res: { status: number; body: any }, status: number, code: string, param?: string) => {
    assert.equal(res.status, status, JSON.stringify(res.body))
    assert.equal(res.body.errors[0].code, code, JSON.stringify(res.body))
    if (param) assert.equal(res.body.errors[0].meta?.param_name, param, JSON.stringify(res.body))
    assert.ok(res.body.errors[0].long_message)
  }

  const permission = async (api: ReturnType<typeof client>, key: string, name = key) => {
    const res = await api.post('/v1/organization_permissions', { key, name, description: `Lets members ${key}` })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    return res.body
  }

  describe('GET /v1/organization_roles', () => {
    it('lists every instance\'s seeded roles, org:admin and org:member, with their Permission objects', async () => {
      const { api } = await fresh()
      const res = await api.get('/v1/organization_roles?order_by=key')
      assert.equal(res.status, 200)
      assertMatchesSpec(spec.response('ListOrganizationRoles', 200), res.body, 'roles 200 body')
      assert.equal(res.body.total_count, 2)
      const [admin, member] = res.body.data
      assert.equal(admin.key, 'org:admin')
      assert.equal(admin.object, 'role')
      assert.equal(admin.is_creator_eligible, true)
      assert.deepEqual(admin.permissions.map((p: any) => p.key), SYSTEM_PERMISSIONS)
      assert.ok(admin.permissions.every((p: any) => p.object === 'permission' && p.type === 'system' && /^perm_/.test(p.id)))
      assert.equal(member.key, 'org:member')
      assert.equal(member.is_creator_eligible, false)
      assert.deepEqual(member.permissions.map((p: any) => p.key), ['org:sys_memberships:read', 'org:sys_domains:read'])

      // Ids are the instance's own.
      const other = await fresh()
      const otherAdmin = (await other.api.get('/v1/organization_roles?order_by=key')).body.data[0]
      assert.notEqual(otherAdmin.id, admin.id)
    })

    it('filters by query, orders and pages, and refuses an unknown order', async () => {
      const { api } = await fresh()
      await api.post('/v1/organization_roles', { key: 'org:billing', name: 'Billing' })
      const q = async (qs: string) => (await api.get(`/v1/organization_roles?${qs}`)).body
      assert.deepEqual((await q('query=ADM')).data.map((r: any) => r.key), ['org:admin'])
      assert.deepEqual((await q('query=bill')).data.map((r: any) => r.key), ['org:billing'])
      assert.deepEqual((await q('order_by=-name')).data.map((r: any) => r.key), ['org:member', 'org:billing', 'org:admin'])
      const page = await q('order_by=name&limit=1&offset=1')
      assert.deepEqual(page.data.map((r: any) => r.key), ['org:billing'])
      assert.equal(page.total_count, 3)
      const bad = await api.get('/v1/organization_roles?order_by=permissions')
      assertError(bad, 422, 'form_param_value_invalid', 'order_by')
      assertMatchesSpec(spec.response('ListOrganizationRoles', 422), bad.body, '422 body')
    })
  })

  describe('POST /v1/organization_roles', () => {
    it('creates a custom role with existing permissions given by key or id, in order, once each', async () => {
      const { api } = await fresh()
      const billing = await permission(api, 'org:billing:manage', 'Manage billing')
      const res = await api.post('/v1/organization_roles', {
        key: 'org:billing_admin', name: 'Billing admin', description: 'Pays the bills',
        permissions: [billing.id, 'org:sys_memberships:read', 'org:billing:manage'],
      })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assertMatchesSpec(spec.response('CreateOrganizationRole', 200), res.body, 'create role 200 body')
      assert.match(res.body.id, /^role_/)
      assert.equal(res.body.key, 'org:billing_admin')
      assert.equal(res.body.description, 'Pays the bills')
      assert.equal(res.body.is_creator_eligible, false)
      assert.deepEqual(res.body.permissions.map((p: any) => p.key), ['org:billing:manage', 'org:sys_memberships:read'])

      const got = await api.get(`/v1/organization_roles/${res.body.id}`)
      assert.equal(got.status, 200)
      assertMatchesSpec(spec.response('GetOrganizationRole', 200), got.body, 'get role 200 body')
      assert.deepEqual(got.body, res.body)
      assert.deepEqual((await api.get('/v1/organization_roles/org:billing_admin')).body, res.body)
      const missing = await api.get(`/v1/organization_roles/${newId('role')}`)
      assertError(missing, 404, 'resource_not_found')
      assertMatchesSpec(spec.response('GetOrganizationRole', 404), missing.body, '404 body')
    })

    it('refuses a malformed or taken key and unknown permissions with 422 naming the parameter', async () => {
      const { api } = await fresh()
      for (const key of ['admin', 'org:Admin', 'org:has-dash', 'org:', 'org:a:b']) {
        assertError(await api.post('/v1/organization_roles', { key, name: 'X' }), 422, 'form_param_format_invalid', 'key')
      }
      const taken = await api.post('/v1/organization_roles', { key: 'org:admin', name: 'Again' })
      assertError(taken, 422, 'form_identifier_exists', 'key')
      assertMatchesSpec(spec.response('CreateOrganizationRole', 422), taken.body, '422 body')
      assertError(await api.post('/v1/organization_roles', { key: 'org:x', name: 'X', permissions: ['org:nothing:here'] }), 422, 'form_param_value_invalid', 'permissions')
      assertError(await api.post('/v1/organization_roles', { key: 'org:x' }), 422, 'form_param_missing', 'name')
      assert.equal((await api.get('/v1/organization_roles')).body.total_count, 2)
    })
  })

  describe('PATCH /v1/organization_roles/{id}', () => {
    it('changes name, description and permissions; members see the new permissions at once', async () => {
      const { instance, api } = await fresh()
      const admin = await makeUser(t.db, instance.id, uniqueEmail('admin'))
      const org = await makeOrganization(api, { created_by: admin })
      await permission(api, 'org:reports:read')
      const role = (await api.post('/v1/organization_roles', { key: 'org:analyst', name: 'Analyst' })).body
      const grace = await makeUser(t.db, instance.id, uniqueEmail('grace'))
      await addMember(api, org.id, grace, 'org:analyst')

      const res = await api.patch(`/v1/organization_roles/${role.id}`, { name: 'Data analyst', description: 'Reads reports', permissions: ['org:reports:read'] })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assertMatchesSpec(spec.response('UpdateOrganizationRole', 200), res.body, 'update role 200 body')
      assert.equal(res.body.name, 'Data analyst')
      assert.equal(res.body.description, 'Reads reports')
      assert.deepEqual(res.body.permissions.map((p: any) => p.key), ['org:reports:read'])
      const membership = (await api.get(`/v1/organizations/${org.id}/memberships?user_id=${grace}`)).body.data[0]
      assert.deepEqual(membership.permissions, ['org:reports:read'])
      assert.equal(membership.role_name, 'Data analyst')
      assert.equal(await t.services.memberships.hasPermission(t.db, instance.id, org.id, grace, 'org:reports:read'), true)
    })

    it('carries a new key over to members; system roles keep theirs', async () => {
      const { instance, api } = await fresh()
      const admin = await makeUser(t.db, instance.id, uniqueEmail('admin'))
      const org = await makeOrganization(api, { created_by: admin })
      const role = (await api.post('/v1/organization_roles', { key: 'org:old', name: 'Old' })).body
      const grace = await makeUser(t.db, instance.id, uniqueEmail('grace'))
      await addMember(api, org.id, grace, 'org:old')
      const res = await api.patch(`/v1/organization_roles/${role.id}`, { key: 'org:new' })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.equal(res.body.key, 'org:new')
      assert.deepEqual((await api.get(`/v1/organizations/${org.id}/memberships?role=org:new`)).body.data.map((m: any) => m.public_user_data.user_id), [grace])

      assertError(await api.patch(`/v1/organization_roles/${role.id}`, { key: 'org:member' }), 422, 'form_identifier_exists', 'key')
      assertError(await api.patch('/v1/organization_roles/org:admin', { key: 'org:boss' }), 403, 'not_allowed_access', 'key')
      // The system roles' names may change.
      assert.equal((await api.patch('/v1/organization_roles/org:member', { name: 'Teammate' })).body.name, 'Teammate')
      assertError(await api.patch(`/v1/organization_roles/${newId('role')}`, { name: 'X' }), 404, 'resource_not_found')
    })

    it('refuses to take org:sys_memberships:manage from a role some organization\'s only managers hold', async () => {
      const { instance, api } = await fresh()
      const admin = await makeUser(t.db, instance.id, uniqueEmail('admin'))
      const org = await makeOrganization(api, { created_by: admin })
      const owner = (await api.post('/v1/organization_roles', { key: 'org:owner', name: 'Owner', permissions: ['org:sys_memberships:manage'] })).body
      const grace = await makeUser(t.db, instance.id, uniqueEmail('grace'))
      await addMember(api, org.id, grace, 'org:owner')

      // org:admin holds it through the creator: removing it from org:admin would leave the organization with grace only, which is fine.
      const adminRole = (await api.get('/v1/organization_roles/org:admin')).body
      const without = adminRole.permissions.map((p: any) => p.key).filter((k: string) => k !== 'org:sys_memberships:manage')
      assert.equal((await api.patch('/v1/organization_roles/org:admin', { permissions: without })).status, 200)
      // Now grace's role is the organization's only source of the permission.
      const refused = await api.patch(`/v1/organization_roles/${owner.id}`, { permissions: [] })
      assertError(refused, 422, 'organization_minimum_permissions_needed', 'permissions')
      assertMatchesSpec(spec.response('UpdateOrganizationRole', 422), refused.body, '422 body')
      const unassign = await api.delete(`/v1/organization_roles/${owner.id}/permissions/org:sys_memberships:manage`)
      assertError(unassign, 422, 'organization_minimum_permissions_needed')
      assert.equal((await api.patch('/v1/organization_roles/org:admin', { permissions: [...without, 'org:sys_memberships:manage'] })).status, 200)
      assert.equal((await api.patch(`/v1/organization_roles/${owner.id}`, { permissions: [] })).status, 200)
    })

    it('assigns and removes single permissions', async () => {
      const { api } = await fresh()
      const reports = await permission(api, 'org:reports:read')
      const role = (await api.post('/v1/organization_roles', { key: 'org:viewer', name: 'Viewer' })).body
      const assigned = await api.post(`/v1/organization_roles/${role.id}/permissions/${reports.id}`)
      assert.equal(assigned.status, 200, JSON.stringify(assigned.body))
      assertMatchesSpec(spec.response('AssignPermissionToOrganizationRole', 200), assigned.body, 'assign 200 body')
      assert.deepEqual(assigned.body.permissions.map((p: any) => p.key), ['org:reports:read'])
      const twice = await api.post(`/v1/organization_roles/${role.id}/permissions/${reports.id}`)
      assertError(twice, 409, 'duplicate_record')
      assertMatchesSpec(spec.response('AssignPermissionToOrganizationRole', 409), twice.body, '409 body')
      assertError(await api.post(`/v1/organization_roles/${role.id}/permissions/${newId('perm')}`), 404, 'resource_not_found')
      const removed = await api.delete(`/v1/organization_roles/${role.id}/permissions/${reports.id}`)
      assert.equal(removed.status, 200)
      assertMatchesSpec(spec.response('RemovePermissionFromOrganizationRole', 200), removed.body, 'remove 200 body')
      assert.deepEqual(removed.body.permissions, [])
      assertError(await api.delete(`/v1/organization_roles/${role.id}/permissions/${reports.id}`), 404, 'resource_not_found')
    })
  })

  describe('DELETE /v1/organization_roles/{id}', () => {
    it('deletes an unused custom role; refuses system roles (403) and roles members or pending invitations hold (422)', async () => {
      const { instance, api } = await fresh()
      const unused = (await api.post('/v1/organization_roles', { key: 'org:temp', name: 'Temp' })).body
      const res = await api.delete(`/v1/organization_roles/${unused.id}`)
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assertMatchesSpec(spec.response('DeleteOrganizationRole', 200), res.body, 'delete role 200 body')
      assert.deepEqual(res.body, { object: 'role', id: unused.id, deleted: true })
      const gone = await api.delete(`/v1/organization_roles/${unused.id}`)
      assertError(gone, 404, 'resource_not_found')
      assertMatchesSpec(spec.response('DeleteOrganizationRole', 404), gone.body, '404 body')

      for (const key of ['org:admin', 'org:member']) {
        const refused = await api.delete(`/v1/organization_roles/${key}`)
        assertError(refused, 403, 'not_allowed_access')
        assertMatchesSpec(spec.response('DeleteOrganizationRole', 403), refused.body, '403 body')
      }

      const admin = await makeUser(t.db, instance.id, uniqueEmail('admin'))
      const org = await makeOrganization(api, { created_by: admin })
      const held = (await api.post('/v1/organization_roles', { key: 'org:held', name: 'Held' })).body
      const grace = await makeUser(t.db, instance.id, uniqueEmail('grace'))
      await addMember(api, org.id, grace, 'org:held')
      const inUse = await api.delete(`/v1/organization_roles/${held.id}`)
      assertError(inUse, 422, 'organization_role_in_use')
      assertMatchesSpec(spec.response('DeleteOrganizationRole', 422), inUse.body, '422 body')
      await api.delete(`/v1/organizations/${org.id}/memberships/${grace}`)

      // A pending invitation holding the role keeps it too.
      const now = t.clock.now(instance)
      const invitationId = newId('orginv')
      await t.db.query(`
        insert into organization_invitations (id, instance_id, organization_id, email_address, role, status, ticket_nonce, ticket_hash, expires_at, created_at, updated_at)
        values ($1, $2, $3, $4, 'org:held', 'pending', 'n', $5, $6, $7, $7)`,
      [invitationId, instance.id, org.id, uniqueEmail(), newId('msg'), now + 86_400_000, now])
      assertError(await api.delete(`/v1/organization_roles/${held.id}`), 422, 'organization_role_in_use')
      await t.db.query(`update organization_invitations set status = 'revoked' where id = $1`, [invitationId])
      assert.equal((await api.delete(`/v1/organization_roles/${held.id}`)).status, 200)
    })
  })

  describe('organization permissions', () => {
    it('lists system and user permissions and creates org:<feature>:<action> ones', async () => {
      const { api } = await fresh()
      const created = await api.post('/v1/organization_permissions', { key: 'org:invoices:send', name: 'Send invoices', description: 'Sends them' })
      assert.equal(created.status, 200, JSON.stringify(created.body))
      assertMatchesSpec(spec.response('CreateOrganizationPermission', 200), created.body, 'create permission 200 body')
      assert.match(created.body.id, /^perm_/)
      assert.equal(created.body.type, 'user')
      assert.equal(created.body.description, 'Sends them')

      const list = await api.get('/v1/organization_permissions?limit=100')
      assert.equal(list.status, 200)
      assertMatchesSpec(spec.response('ListOrganizationPermissions', 200), list.body, 'permissions 200 body')
      assert.equal(list.body.total_count, SYSTEM_PERMISSIONS.length + 1)
      assert.deepEqual(list.body.data.map((p: any) => p.key).sort(), [...SYSTEM_PERMISSIONS, 'org:invoices:send'].sort())
      assert.deepEqual((await api.get('/v1/organization_permissions?query=invoice')).body.data.map((p: any) => p.key), ['org:invoices:send'])
      const got = await api.get(`/v1/organization_permissions/${created.body.id}`)
      assertMatchesSpec(spec.response('GetOrganizationPermission', 200), got.body, 'get permission 200 body')
      assert.deepEqual(got.body, created.body)

      for (const key of ['invoices:send', 'org:invoices', 'org:Invoices:send', 'org:a:b:c', 'org:sys_profile:manage', 'org:sys_anything:read']) {
        const bad = await api.post('/v1/organization_permissions', { key, name: 'Bad' })
        assertError(bad, 422, 'form_param_format_invalid', 'key')
      }
      const taken = await api.post('/v1/organization_permissions', { key: 'org:invoices:send', name: 'Again' })
      assertError(taken, 422, 'form_identifier_exists', 'key')
      assertMatchesSpec(spec.response('CreateOrganizationPermission', 422), taken.body, '422 body')
    })

    it('updates and deletes user permissions (roles follow); system ones cannot change', async () => {
      const { api } = await fresh()
      const perm = await permission(api, 'org:files:read')
      const role = (await api.post('/v1/organization_roles', { key: 'org:reader', name: 'Reader', permissions: ['org:files:read', 'org:sys_memberships:read'] })).body
      const renamed = await api.patch(`/v1/organization_permissions/${perm.id}`, { key: 'org:documents:read', name: 'Read documents' })
      assert.equal(renamed.status, 200, JSON.stringify(renamed.body))
      assertMatchesSpec(spec.response('UpdateOrganizationPermission', 200), renamed.body, 'update permission 200 body')
      assert.equal(renamed.body.key, 'org:documents:read')
      assert.deepEqual((await api.get(`/v1/organization_roles/${role.id}`)).body.permissions.map((p: any) => p.key), ['org:documents:read', 'org:sys_memberships:read'])

      const system = (await api.get('/v1/organization_permissions?query=sys_profile:manage')).body.data[0]
      assertError(await api.patch(`/v1/organization_permissions/${system.id}`, { name: 'Mine' }), 403, 'not_allowed_access')
      const notDeleted = await api.delete(`/v1/organization_permissions/${system.id}`)
      assertError(notDeleted, 403, 'not_allowed_access')
      assertMatchesSpec(spec.response('DeleteOrganizationPermission', 403), notDeleted.body, '403 body')

      const deleted = await api.delete(`/v1/organization_permissions/${perm.id}`)
      assert.equal(deleted.status, 200)
      assertMatchesSpec(spec.response('DeleteOrganizationPermission', 200), deleted.body, 'delete permission 200 body')
      assert.deepEqual((await api.get(`/v1/organization_roles/${role.id}`)).body.permissions.map((p: any) => p.key), ['org:sys_memberships:read'])
      assertError(await api.get(`/v1/organization_permissions/${perm.id}`), 404, 'resource_not_found')
    })
  })
})
