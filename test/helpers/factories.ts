import type { Client } from './build-app.js'
import { uniqueEmail } from './build-app.js'
import type { Db } from '../../src/platform/db/db.js'
import { newId } from '../../src/platform/ids.js'
import { createUserStore } from '../../src/users/users.store.js'

export async function makeInvitation(api: Client, overrides: Record<string, unknown> = {}) {
  const res = await api.post('/v1/invitations', { email_address: uniqueEmail(), notify: false, ...overrides })
  if (res.status !== 200) throw new Error(`makeInvitation: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body
}

/** A user holding `email` in `instanceId`; users get their own API in a later capability. */
export async function makeUser(db: Db, instanceId: string, email: string, now = Date.now()) {
  const id = newId('user', now)
  await createUserStore().insert(db, { id, instanceId, emailId: newId('idn', now), emailAddress: email, verification: 'admin', now })
  return id
}

let orgSeq = 0

/** An organization created over HTTP (POST /v1/organizations); `overrides` go into the body (e.g. `created_by`). */
export async function makeOrganization(api: Client, overrides: Record<string, unknown> = {}) {
  const res = await api.post('/v1/organizations', { name: `Org ${Date.now().toString(36)} ${orgSeq++}`, ...overrides })
  if (res.status !== 200) throw new Error(`makeOrganization: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body
}

/** Adds an existing user to an organization over HTTP (POST …/memberships) and answers the membership. */
export async function addMember(api: Client, organizationId: string, userId: string, role = 'org:member', overrides: Record<string, unknown> = {}) {
  const res = await api.post(`/v1/organizations/${organizationId}/memberships`, { user_id: userId, role, ...overrides })
  if (res.status !== 200) throw new Error(`addMember: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body
}
