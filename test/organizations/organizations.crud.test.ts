import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import { buildTestApp, client, uniqueEmail, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { addMember, makeOrganization, makeUser } from '../helpers/factories.js'
import { assertMatchesSpec, bapiSpecPath, loadBapiSpec, webhookEventValidator } from '../helpers/spec.js'
import { newId } from '../../src/platform/ids.js'

const spec = loadBapiSpec()

forEachDatabase('organizations over the Backend API', (engine) => {
  let t: TestApp
  before(async () => {
    t = await buildTestApp({ engine })
  })
  after(() => t.close())

  const fresh = async () => {
    const { instance, secretKey } = await t.newInstance()
    return { instance, secretKey, api: client(t.app, secretKey) }
  }

  /** The webhook events queued for the instance, oldest first, as [type, payload]. */
  const events = async (instanceId: string, prefix = 'organization') => {
    const rows = await t.db.query<{ topic: string; payload: any }>(
      `select topic, payload from outbox where instance_id = $1 and kind = 'webhook' and topic like $2 order by created_at, id`, [instanceId, `${prefix}%`])
    return rows.map((r) => [r.topic, r.payload] as const)
  }

  const assertError = (res: { status: number; body: any }, status: number, code: string, param?: string) => {
    assert.equal(res.status, status, JSON.stringify(res.body))
    assert.equal(res.body.errors[0].code, code, JSON.stringify(res.body))
    if (param) assert.equal(res.body.errors[0].meta?.param_name, param, JSON.stringify(res.body))
    assert.ok(res.body.errors[0].long_message)
  }

  describe('POST /v1/organizations', () => {
    it('creates an organization in Clerk\'s shape, its slug made from the name, and queues organization.created', async () => {
      const { instance, api } = await fresh()
      const res = await api.post('/v1/organizations', { name: '  Acme Café, Inc. ', public_metadata: { tier: 'gold' }, private_metadata: { crm: 7 }, max_allowed_memberships: 5 })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assertMatchesSpec(spec.response('CreateOrganization', 200), res.body, 'POST /v1/organizations 200 body')
      const org = res.body
      assert.match(org.id, /^org_[0-9A-Za-z]{27}$/)
      assert.equal(org.object, 'organization')
      assert.equal(org.name, 'Acme Café, Inc.')
      assert.equal(org.slug, 'acme-cafe-inc')
      assert.equal(org.max_allowed_memberships, 5)
      assert.equal(org.admin_delete_enabled, true)
      assert.deepEqual(org.public_metadata, { tier: 'gold' })
      assert.deepEqual(org.private_metadata, { crm: 7 })
      assert.equal(org.has_image, false)
      assert.equal('created_by' in org, false)
      assert.equal('members_count' in org, false)

      const queued = await events(instance.id)
      assert.deepEqual(queued.map(([type]) => type), ['organization.created'])
      const payload = queued[0]![1]
      assertMatchesSpec(webhookEventValidator('organization.created'), payload, 'organization.created payload')
      assert.deepEqual(payload, { data: org, object: 'event', type: 'organization.created', timestamp: org.created_at, instance_id: instance.id })
      // Nobody created it, so nobody is a member.
      assert.equal((await api.get(`/v1/organizations/${org.id}/memberships`)).body.total_count, 0)
    })

    it('makes created_by the first member, as org:admin, in the same transaction, with organizationMembership.created', async () => {
      const { instance, api } = await fresh()
      const email = uniqueEmail('founder')
      const userId = await makeUser(t.db, instance.id, email)
      const res = await api.post('/v1/organizations', { name: 'Founded', created_by: userId })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.equal(res.body.created_by, userId)

      const members = await api.get(`/v1/organizations/${res.body.id}/memberships`)
      assert.equal(members.status, 200)
      assert.equal(members.body.total_count, 1)
      const [membership] = members.body.data
      assert.equal(membership.role, 'org:admin')
      assert.equal(membership.public_user_data.user_id, userId)
      assert.equal(membership.public_user_data.identifier, email)
      assert.ok(membership.permissions.includes('org:sys_memberships:manage'))

      const queued = await events(instance.id)
      assert.deepEqual(queued.map(([type]) => type).sort(), ['organization.created', 'organizationMembership.created'])
      const created = queued.find(([type]) => type === 'organizationMembership.created')![1]
      assertMatchesSpec(webhookEventValidator('organizationMembership.created'), created, 'organizationMembership.created payload')
      assert.deepEqual(created.data, membership)
    })

    it('refuses an unknown created_by with 404 naming it, and creates nothing', async () => {
      const { instance, api } = await fresh()
      const res = await api.post('/v1/organizations', { name: 'Ghost', created_by: newId('user') })
      assertError(res, 404, 'resource_not_found', 'created_by')
      assertMatchesSpec(spec.response('CreateOrganization', 400), res.body, 'error body')
      assert.equal((await api.get('/v1/organizations')).body.total_count, 0)
      assert.deepEqual(await events(instance.id), [])
    })

    it('keeps slugs unique per instance: a slug given and taken is a 422 form_identifier_exists; one made from the name gets a suffix', async () => {
      const { api } = await fresh()
      const first = await makeOrganization(api, { name: 'Rockets', slug: 'rockets' })
      assert.equal(first.slug, 'rockets')
      const taken = await api.post('/v1/organizations', { name: 'Other', slug: 'rockets' })
      assertError(taken, 422, 'form_identifier_exists', 'slug')
      assertMatchesSpec(spec.response('CreateOrganization', 422), taken.body, 'error body')

      const generated = await makeOrganization(api, { name: 'Rockets' })
      assert.match(generated.slug, /^rockets-[0-9a-f]{8}$/)

      // Another instance has slugs of its own.
      const other = await fresh()
      assert.equal((await makeOrganization(other.api, { name: 'Rockets', slug: 'rockets' })).slug, 'rockets')
    })

    it('refuses a bad name, slug, created_at or metadata with 422 naming the parameter', async () => {
      const { api } = await fresh()
      assertError(await api.post('/v1/organizations', { name: 'Bad', slug: 'Has Spaces' }), 422, 'form_param_format_invalid', 'slug')
      assertError(await api.post('/v1/organizations', { name: 'Bad', slug: 'under_score' }), 422, 'form_param_format_invalid', 'slug')
      assertError(await api.post('/v1/organizations', { name: '<b>bold</b>' }), 422, 'form_param_format_invalid', 'name')
      assertError(await api.post('/v1/organizations', { name: 'Visit https://evil.example' }), 422, 'form_param_format_invalid', 'name')
      assertError(await api.post('/v1/organizations', { name: '   ' }), 422, 'form_param_format_invalid', 'name')
      assertError(await api.post('/v1/organizations', { name: 'x'.repeat(257) }), 422, 'form_param_value_invalid', 'name')
      assertError(await api.post('/v1/organizations', {}), 422, 'form_param_missing', 'name')
      assertError(await api.post('/v1/organizations', { name: 'Big', public_metadata: { blob: 'x'.repeat(9000) } }), 422, 'form_param_max_length_exceeded', 'public_metadata')
      assertError(await api.post('/v1/organizations', { name: 'Big', private_metadata: { blob: 'x'.repeat(9000) } }), 422, 'form_param_max_length_exceeded', 'private_metadata')
      assertError(await api.post('/v1/organizations', { name: 'Neg', max_allowed_memberships: -1 }), 422, 'form_param_value_invalid', 'max_allowed_memberships')
      assertError(await api.post('/v1/organizations', { name: 'When', created_at: 'yesterday' }), 422, 'form_param_format_invalid', 'created_at')
      assert.equal((await api.get('/v1/organizations')).body.total_count, 0)
    })

    it('takes a created_at in RFC 3339 and form-encoded bodies', async () => {
      const { api } = await fresh()
      const dated = await makeOrganization(api, { name: 'Dated', created_at: '2012-10-20T07:15:20.902Z' })
      assert.equal(dated.created_at, Date.parse('2012-10-20T07:15:20.902Z'))
      const form = await api.post('/v1/organizations', 'name=Form%20Co&slug=form-co', { 'content-type': 'application/x-www-form-urlencoded' })
      assert.equal(form.status, 200, JSON.stringify(form.body))
      assert.equal(form.body.slug, 'form-co')
    })
  })

  describe('GET /v1/organizations/{id}', () => {
    it('finds by id or slug, with counts only when asked, and 404 otherwise', async () => {
      const { instance, api } = await fresh()
      const userId = await makeUser(t.db, instance.id, uniqueEmail())
      const org = await makeOrganization(api, { name: 'Lookup', slug: 'look-up', created_by: userId })
      const byId = await api.get(`/v1/organizations/${org.id}`)
      assert.equal(byId.status, 200)
      assertMatchesSpec(spec.response('GetOrganization', 200), byId.body, 'GET organization 200 body')
      assert.deepEqual(byId.body, org)
      assert.deepEqual((await api.get('/v1/organizations/look-up')).body, org)

      const counted = await api.get(`/v1/organizations/look-up?include_members_count=true&include_missing_member_with_elevated_permissions=true`)
      assertMatchesSpec(spec.response('GetOrganization', 200), counted.body, 'GET organization with counts')
      assert.equal(counted.body.members_count, 1)
      assert.equal(counted.body.pending_invitations_count, 0)
      assert.equal(counted.body.missing_member_with_elevated_permissions, false)

      const missing = await api.get(`/v1/organizations/${newId('org')}`)
      assertError(missing, 404, 'resource_not_found')
      assertMatchesSpec(spec.response('GetOrganization', 404), missing.body, '404 body')
      // Another instance's organization does not exist here.
      const other = await fresh()
      assert.equal((await other.api.get(`/v1/organizations/${org.id}`)).status, 404)
      assert.equal((await other.api.get('/v1/organizations/look-up')).status, 404)
    })
  })

  describe('GET /v1/organizations', () => {
    it('answers {data,total_count}, newest first, filtered by query, user_id and organization_id, ordered and paged', async () => {
      const { instance, api } = await fresh()
      const alice = await makeUser(t.db, instance.id, uniqueEmail('alice'))
      const bob = await makeUser(t.db, instance.id, uniqueEmail('bob'))
      const alpha = await makeOrganization(api, { name: 'Alpha Rockets', slug: 'alpha' })
      t.clock.advance(1000)
      const beta = await makeOrganization(api, { name: 'beta', slug: 'beta-rockets', created_by: alice })
      t.clock.advance(1000)
      const gamma = await makeOrganization(api, { name: 'Gamma', slug: 'gamma', created_by: alice })
      await addMember(api, gamma.id, bob)

      const all = await api.get('/v1/organizations')
      assert.equal(all.status, 200)
      assertMatchesSpec(spec.response('ListOrganizations', 200), all.body, 'list 200 body')
      assert.deepEqual(all.body.data.map((o: any) => o.id), [gamma.id, beta.id, alpha.id])
      assert.equal(all.body.total_count, 3)

      const ids = async (qs: string) => {
        const res = await api.get(`/v1/organizations?${qs}`)
        assert.equal(res.status, 200, JSON.stringify(res.body))
        return { ids: res.body.data.map((o: any) => o.id), total: res.body.total_count, body: res.body }
      }
      assert.deepEqual((await ids('query=ROCKET')).ids, [beta.id, alpha.id])
      assert.deepEqual((await ids(`query=${gamma.id}`)).ids, [gamma.id])
      assert.deepEqual((await ids('query=100%25')).ids, [])
      assert.deepEqual((await ids('order_by=name')).ids, [alpha.id, beta.id, gamma.id])
      assert.deepEqual((await ids('order_by=-name')).ids, [gamma.id, beta.id, alpha.id])
      assert.deepEqual((await ids('order_by=+created_at')).ids, [alpha.id, beta.id, gamma.id])
      assert.deepEqual((await ids('order_by=-members_count')).ids, [gamma.id, beta.id, alpha.id])
      const page = await ids('limit=1&offset=1')
      assert.deepEqual(page.ids, [beta.id])
      assert.equal(page.total, 3)
      const past = await ids('offset=10')
      assert.deepEqual(past.ids, [])
      assert.equal(past.total, 3)
      assert.deepEqual((await ids(`user_id=${bob}`)).ids, [gamma.id])
      assert.deepEqual((await ids(`user_id=${alice}&user_id=-${bob}`)).ids, [beta.id])
      assert.deepEqual((await ids(`organization_id=${alpha.id}&organization_id=${beta.id}`)).ids, [beta.id, alpha.id])
      assert.deepEqual((await ids(`organization_id=-${alpha.id}`)).ids, [gamma.id, beta.id])

      const counted = await ids('include_members_count=true&order_by=name')
      assertMatchesSpec(spec.response('ListOrganizations', 200), counted.body, 'list with counts')
      assert.deepEqual(counted.body.data.map((o: any) => o.members_count), [0, 1, 2])
      assert.ok(!('members_count' in all.body.data[0]))

      const bad = await api.get('/v1/organizations?order_by=slug')
      assertError(bad, 422, 'form_param_value_invalid', 'order_by')
      assertMatchesSpec(spec.response('ListOrganizations', 422), bad.body, '422 body')
      assert.equal((await api.get('/v1/organizations?limit=0')).status, 422)
      assert.equal((await api.get('/v1/organizations?limit=501')).status, 422)
    })
  })

  describe('PATCH /v1/organizations/{id}', () => {
    it('changes name, slug, limits and flags, and queues organization.updated', async () => {
      const { instance, api } = await fresh()
      const org = await makeOrganization(api, { name: 'Before', slug: 'before', public_metadata: { keep: true } })
      t.clock.advance(5000)
      const res = await api.patch(`/v1/organizations/${org.id}`, { name: 'After', slug: 'after', max_allowed_memberships: 3, admin_delete_enabled: false })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assertMatchesSpec(spec.response('UpdateOrganization', 200), res.body, 'PATCH 200 body')
      assert.equal(res.body.name, 'After')
      assert.equal(res.body.slug, 'after')
      assert.equal(res.body.max_allowed_memberships, 3)
      assert.equal(res.body.admin_delete_enabled, false)
      assert.deepEqual(res.body.public_metadata, { keep: true })
      assert.equal(res.body.created_at, org.created_at)
      assert.equal(res.body.updated_at, org.updated_at + 5000)
      assert.deepEqual((await api.get(`/v1/organizations/${org.id}`)).body, res.body)

      const updated = (await events(instance.id)).filter(([type]) => type === 'organization.updated')
      assert.equal(updated.length, 1)
      assertMatchesSpec(webhookEventValidator('organization.updated'), updated[0]![1], 'organization.updated payload')
      assert.deepEqual(updated[0]![1].data, res.body)

      // Nulls leave things as they are.
      const same = await api.patch(`/v1/organizations/${org.id}`, { name: null, slug: null })
      assert.equal(same.body.name, 'After')
      assert.equal(same.body.slug, 'after')
    })

    it('refuses a taken or malformed slug and unknown organizations', async () => {
      const { api } = await fresh()
      await makeOrganization(api, { name: 'One', slug: 'one' })
      const two = await makeOrganization(api, { name: 'Two', slug: 'two' })
      assertError(await api.patch(`/v1/organizations/${two.id}`, { slug: 'one' }), 422, 'form_identifier_exists', 'slug')
      assertError(await api.patch(`/v1/organizations/${two.id}`, { slug: 'Nope!' }), 422, 'form_param_format_invalid', 'slug')
      assertError(await api.patch(`/v1/organizations/${two.id}`, { unknown: 1 }), 422, 'form_param_unknown')
      // Its own slug again is no conflict.
      assert.equal((await api.patch(`/v1/organizations/${two.id}`, { slug: 'two' })).status, 200)
      const missing = await api.patch(`/v1/organizations/${newId('org')}`, { name: 'X' })
      assertError(missing, 404, 'resource_not_found')
      assertMatchesSpec(spec.response('UpdateOrganization', 404), missing.body, '404 body')
    })

    it('replaces metadata given in the body (older API versions) and checks its size', async () => {
      const { api } = await fresh()
      const org = await makeOrganization(api, { public_metadata: { a: 1 }, private_metadata: { b: 2 } })
      const res = await api.patch(`/v1/organizations/${org.id}`, { public_metadata: { c: 3 } })
      assert.deepEqual(res.body.public_metadata, { c: 3 })
      assert.deepEqual(res.body.private_metadata, { b: 2 })
      assertError(await api.patch(`/v1/organizations/${org.id}`, { private_metadata: { blob: 'x'.repeat(9000) } }), 422, 'form_param_max_length_exceeded', 'private_metadata')
    })
  })

  describe('PATCH and PUT /v1/organizations/{id}/metadata', () => {
    it('deep-merges (PATCH) or replaces (PUT) each metadata object given, within 8 KB', async () => {
      const { instance, api, secretKey } = await fresh()
      const org = await makeOrganization(api, { public_metadata: { a: 1, nested: { x: 1, y: 2 } }, private_metadata: { secret: 's' } })
      const merged = await api.patch(`/v1/organizations/${org.id}/metadata`, { public_metadata: { a: null, b: 2, nested: { y: null, z: 3 } } })
      assert.equal(merged.status, 200, JSON.stringify(merged.body))
      assertMatchesSpec(spec.response('MergeOrganizationMetadata', 200), merged.body, 'merge 200 body')
      assert.deepEqual(merged.body.public_metadata, { b: 2, nested: { x: 1, z: 3 } })
      assert.deepEqual(merged.body.private_metadata, { secret: 's' })

      const put = await api.raw({
        method: 'PUT', url: `/v1/organizations/${org.id}/metadata`, payload: { private_metadata: { fresh: true } },
        headers: { authorization: `Bearer ${secretKey}` },
      })
      assert.equal(put.statusCode, 200, put.body)
      assertMatchesSpec(spec.response('ReplaceOrganizationMetadata', 200), JSON.parse(put.body), 'replace 200 body')
      assert.deepEqual(JSON.parse(put.body).private_metadata, { fresh: true })
      assert.deepEqual(JSON.parse(put.body).public_metadata, { b: 2, nested: { x: 1, z: 3 } })

      const big = await api.patch(`/v1/organizations/${org.id}/metadata`, { public_metadata: { blob: 'x'.repeat(9000) } })
      assertError(big, 422, 'form_param_max_length_exceeded', 'public_metadata')
      assert.equal((await events(instance.id)).filter(([type]) => type === 'organization.updated').length, 2)
      assert.equal((await api.patch(`/v1/organizations/${newId('org')}/metadata`, { public_metadata: {} })).status, 404)
    })
  })

  describe('DELETE /v1/organizations/{id}', () => {
    it('deletes the organization with its memberships and invitations, and queues organization.deleted (DeletedObject)', async () => {
      const { instance, api } = await fresh()
      const userId = await makeUser(t.db, instance.id, uniqueEmail())
      const org = await makeOrganization(api, { name: 'Doomed', slug: 'doomed', created_by: userId })
      const now = t.clock.now(instance)
      await t.db.query(`
        insert into organization_invitations (id, instance_id, organization_id, email_address, role, status, ticket_nonce, ticket_hash, expires_at, created_at, updated_at)
        values ($1, $2, $3, $4, 'org:member', 'pending', 'n', $5, $6, $7, $7)`,
      [newId('orginv'), instance.id, org.id, uniqueEmail(), newId('msg'), now + 86_400_000, now])

      const res = await api.delete(`/v1/organizations/${org.id}`)
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assertMatchesSpec(spec.response('DeleteOrganization', 200), res.body, 'DELETE 200 body')
      assert.deepEqual(res.body, { object: 'organization', id: org.id, slug: 'doomed', deleted: true })

      assert.equal((await api.get(`/v1/organizations/${org.id}`)).status, 404)
      const left = await t.db.query<{ n: number }>(`
        select (select count(*) from organization_memberships where organization_id = $1)
             + (select count(*) from organization_invitations where organization_id = $1) as n`, [org.id])
      assert.equal(Number(left[0]!.n), 0)
      assert.equal((await api.get(`/v1/users/${userId}/organization_memberships`)).body.total_count, 0)

      const deleted = (await events(instance.id)).filter(([type]) => type === 'organization.deleted')
      assert.equal(deleted.length, 1)
      assertMatchesSpec(webhookEventValidator('organization.deleted'), deleted[0]![1], 'organization.deleted payload')
      assert.deepEqual(deleted[0]![1].data, { object: 'organization', id: org.id, slug: 'doomed', deleted: true })

      // The slug is free again.
      assert.equal((await makeOrganization(api, { slug: 'doomed' })).slug, 'doomed')
      const again = await api.delete(`/v1/organizations/${org.id}`)
      assertError(again, 404, 'resource_not_found')
      assertMatchesSpec(spec.response('DeleteOrganization', 404), again.body, '404 body')
    })
  })

  describe('GET /v1/openapi.json', () => {
    it('documents the organization, membership, role and permission routes under Clerk\'s operation ids', async () => {
      const res = await t.app.inject({ method: 'GET', url: '/v1/openapi.json' })
      assert.equal(res.statusCode, 200)
      const doc = JSON.parse(res.payload)
      const clerk = parse(readFileSync(bapiSpecPath(), 'utf8')) as { paths: Record<string, Record<string, { operationId?: string }>> }
      const routes: [string, string][] = [
        ['post', '/organizations'], ['get', '/organizations'], ['get', '/organizations/{organization_id}'],
        ['patch', '/organizations/{organization_id}'], ['delete', '/organizations/{organization_id}'],
        ['patch', '/organizations/{organization_id}/metadata'], ['put', '/organizations/{organization_id}/metadata'],
        ['post', '/organizations/{organization_id}/memberships'], ['get', '/organizations/{organization_id}/memberships'],
        ['patch', '/organizations/{organization_id}/memberships/{user_id}'], ['delete', '/organizations/{organization_id}/memberships/{user_id}'],
        ['patch', '/organizations/{organization_id}/memberships/{user_id}/metadata'], ['get', '/users/{user_id}/organization_memberships'],
        ['get', '/organization_roles'], ['post', '/organization_roles'], ['get', '/organization_roles/{organization_role_id}'],
        ['patch', '/organization_roles/{organization_role_id}'], ['delete', '/organization_roles/{organization_role_id}'],
        ['post', '/organization_roles/{organization_role_id}/permissions/{permission_id}'],
        ['delete', '/organization_roles/{organization_role_id}/permissions/{permission_id}'],
        ['get', '/organization_permissions'], ['post', '/organization_permissions'], ['get', '/organization_permissions/{permission_id}'],
        ['patch', '/organization_permissions/{permission_id}'], ['delete', '/organization_permissions/{permission_id}'],
      ]
      for (const [method, path] of routes) {
        const ours = doc.paths?.[`/v1${path}`]?.[method]
        assert.ok(ours, `${method.toUpperCase()} /v1${path} is missing`)
        assert.equal(ours.operationId, clerk.paths[path]?.[method]?.operationId, `${method.toUpperCase()} ${path}`)
        assert.ok(ours.tags?.length, `${method.toUpperCase()} ${path} has tags`)
      }
    })
  })
})
