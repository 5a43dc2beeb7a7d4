import assert from 'node:assert/strict'
import { client, uniqueEmail, type Client, type TestApp } from '../helpers/build-app.js'
import { makeOrganization } from '../helpers/factories.js'
import { SESSION_COOKIE } from '../../src/accept/session-cookie.js'
import type { Instance } from '../../src/instance/instance.schemas.js'
import { browser } from '../pages/page-client.js'

export const PASSWORD = 'correct horse battery'

export interface Person { id: string; email: string }

/** A user with a password (created over the Backend API, so their address is verified). */
export async function person(api: Client, name: { first?: string; last?: string } = {}, email = uniqueEmail('person')): Promise<Person> {
  const res = await api.post('/v1/users', { email_address: email, password: PASSWORD, first_name: name.first ?? null, last_name: name.last ?? null })
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return { id: res.body.id, email }
}

export interface OrgWorld {
  instance: Instance
  api: Client
  orgId: string
  orgName: string
  /** Ada Lovelace, who created the organization and so is its admin. */
  admin: Person
}

/** A new instance with one organization, created by its admin. */
export async function orgWorld(t: TestApp, options: { orgName?: string; instanceName?: string } = {}): Promise<OrgWorld> {
  const { instance, secretKey } = await t.newInstance(options.instanceName ?? 'Acme Rockets')
  const api = client(t.app, secretKey)
  const admin = await person(api, { first: 'Ada', last: 'Lovelace' })
  const orgName = options.orgName ?? 'Launch Team'
  const org = await makeOrganization(api, { name: orgName, created_by: admin.id })
  return { instance, api, orgId: org.id, orgName, admin }
}

/** An organization invitation over the Backend API (no email unless asked). */
export async function inviteTo(w: Pick<OrgWorld, 'api' | 'orgId'>, body: Record<string, unknown> = {}) {
  const res = await w.api.post(`/v1/organizations/${w.orgId}/invitations`, { email_address: uniqueEmail('invitee'), role: 'org:member', notify: false, ...body })
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return res.body as { id: string; email_address: string; url: string; status: string; role: string }
}

/** A session token for `email`, as signing in would set it. */
export async function sessionFor(t: TestApp, instance: Instance, email: string): Promise<string> {
  return (await t.services.accept.signIn({ instance, identifier: email, password: PASSWORD })).session.token
}

/** A page browser already signed in as `email`. */
export async function signedInBrowser(t: TestApp, instance: Instance, email: string) {
  const b = browser(t.app)
  b.jar.set(SESSION_COOKIE, await sessionFor(t, instance, email))
  return b
}

/** The organization invitation as the Backend API reads it now. */
export async function invitationNow(w: Pick<OrgWorld, 'api' | 'orgId'>, id: string) {
  const res = await w.api.get(`/v1/organizations/${w.orgId}/invitations/${id}`)
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return res.body
}

/** The user's memberships (Backend API). */
export async function membershipsOf(api: Client, userId: string): Promise<any[]> {
  const res = await api.get(`/v1/users/${userId}/organization_memberships`)
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return res.body.data
}

/** The payloads an instance queued for webhooks, oldest first. */
export async function queuedEvents(t: TestApp, instanceId: string): Promise<{ id: string; type: string; data: any }[]> {
  const rows = await t.db.query<{ id: string; payload: any }>(
    `select id, payload from outbox where instance_id = $1 and kind = 'webhook' order by created_at, id`, [instanceId])
  return rows.map((r) => ({ id: r.id, ...(typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload) }))
}
