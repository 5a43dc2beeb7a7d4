import assert from 'node:assert/strict'
import { client, uniqueEmail, type Client, type TestApp } from '../helpers/build-app.js'
import { addMember, makeOrganization } from '../helpers/factories.js'
import { newId } from '../../src/platform/ids.js'
import type { Db } from '../../src/platform/db/db.js'
import type { Instance } from '../../src/instance/instance.schemas.js'

/** An organization created over the API, without members; answers its id. */
export async function makeOrg(api: Client, options: { name?: string; max?: number } = {}): Promise<string> {
  const org = await makeOrganization(api, { ...(options.name ? { name: options.name } : {}), max_allowed_memberships: options.max ?? 0 })
  return org.id
}

/** A user (with a name, or none), and a member of the organization with `role` when one is given. */
export async function makePerson(api: Client, organizationId: string | null, role: string | null,
  name: { first?: string | null; last?: string | null } = {}, email = uniqueEmail('member')) {
  const res = await api.post('/v1/users', { email_address: email, first_name: name.first ?? null, last_name: name.last ?? null })
  assert.equal(res.status, 200, JSON.stringify(res.body))
  if (organizationId && role) await addMember(api, organizationId, res.body.id, role)
  return { id: res.body.id as string, email }
}

export interface OrgSetup {
  instance: Instance
  secretKey: string
  api: Client
  orgId: string
  /** Ada Lovelace, who created the organization and so is its admin. */
  admin: { id: string; email: string }
}

/** A new instance with one organization, created by its admin (who holds one seat). */
export async function setupOrg(t: TestApp, options: { name?: string; max?: number; instanceName?: string } = {}): Promise<OrgSetup> {
  const { instance, secretKey } = await t.newInstance(options.instanceName)
  const api = client(t.app, secretKey)
  const admin = await makePerson(api, null, null, { first: 'Ada', last: 'Lovelace' })
  const org = await makeOrganization(api, { name: options.name ?? 'Acme', max_allowed_memberships: options.max ?? 0, created_by: admin.id })
  return { instance, secretKey, api, orgId: org.id, admin }
}

/** Creates an invitation over HTTP (no email unless asked) and answers its body. */
export async function invite(api: Client, orgId: string, body: Record<string, unknown> = {}) {
  const res = await api.post(`/v1/organizations/${orgId}/invitations`, { email_address: uniqueEmail('invitee'), role: 'org:member', notify: false, ...body })
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return res.body
}

/** A custom role of the instance with the given permissions, written directly. */
export async function makeRole(db: Db, instanceId: string, key: string, permissions: string[], name = key): Promise<void> {
  const now = Date.now()
  await db.query(`
    insert into organization_roles (id, instance_id, key, name, permissions, created_at, updated_at)
    values ($1, $2, $3, $4, $5::text[], $6, $6)`,
  [newId('role'), instanceId, key, name, permissions, now])
}
