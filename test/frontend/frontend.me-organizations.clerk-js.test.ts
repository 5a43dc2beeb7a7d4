/**
 * The signed-in person's organization invitations, memberships and suggestions, asked exactly
 * as clerk-js 6.40.0 asks for them (`user.getOrganizationInvitations()`, `invitation.accept()`,
 * `user.getOrganizationMemberships()`, `user.getOrganizationSuggestions()`,
 * `organization.inviteMember()`), through an instance's Frontend API path `/fapi/<instance id>`.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { APP_ORIGIN, buildTestApp, uniqueEmail, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { assertMatchesFapi, assertMatchesSpec, webhookEventValidator } from '../helpers/spec.js'
import { SESSION_COOKIE } from '../../src/accept/session-cookie.js'
import type { Instance } from '../../src/instance/instance.schemas.js'
import { inviteTo, invitationNow, membershipsOf, orgWorld, PASSWORD, person, queuedEvents, signedInBrowser, type OrgWorld } from '../accept/org-helpers.js'

type Search = Record<string, string | number | boolean | string[] | undefined>

/**
 * The path clerk-js 6.40.0 requests (dist/clerk.mjs, fapiClient): the proxy URL's path, `/v1`,
 * its version parameters, the session it acts for on every path outside `/client` and
 * `/waitlist`, `_method` for methods other than GET and POST, and a value holding commas (an
 * array) as the parameter repeated. Paged calls send `limit` and `offset` from pageSize and
 * initialPage.
 */
function clerkJsPath(proxyPath: string, path: string, o: { search?: Search; sessionId?: string | null; method?: string } = {}): string {
  const query = new URLSearchParams()
  for (const [k, v] of Object.entries(o.search ?? {})) if (v !== undefined) query.append(k, String(v))
  query.append('__clerk_api_version', '2026-08-20')
  query.append('_clerk_js_version', '6.40.0')
  if (o.method && o.method !== 'GET' && o.method !== 'POST') query.append('_method', o.method)
  if (!['/client', '/waitlist'].some((p) => path.startsWith(p)) && o.sessionId) query.append('_clerk_session_id', o.sessionId)
  const out = new URLSearchParams()
  for (const [k, v] of query) for (const part of v.includes(',') ? v.split(',') : [v]) out.append(k, part)
  return `${proxyPath}/v1${path}?${out}`
}

/** clerk-js's paging parameters (`convertPageToOffsetAndLimit`). */
const page = ({ pageSize = 10, initialPage = 1, ...rest }: { pageSize?: number; initialPage?: number } & Search = {}): Search =>
  ({ ...rest, limit: pageSize, offset: (initialPage - 1) * pageSize })

interface Reply { status: number; body: any; headers: Record<string, unknown> }

forEachDatabase('Frontend API /v1/me organizations, as clerk-js 6 calls it', (engine) => {
  let t: TestApp
  before(async () => {
    t = await buildTestApp({ engine })
  })
  after(() => t.close())

  const signIn = async (instance: Instance, email: string) => {
    const { session } = await t.services.accept.signIn({ instance, identifier: email, password: PASSWORD })
    return { id: session.id, token: session.token }
  }

  /** A call from a page on the application's origin, as clerk-js's fetch sends it (cookie included, form-encoded POSTs). */
  async function call(method: 'GET' | 'POST', url: string, cookie: string | null, body?: Record<string, string>): Promise<Reply> {
    const headers: Record<string, string> = { origin: APP_ORIGIN }
    if (cookie) headers.cookie = `${SESSION_COOKIE}=${encodeURIComponent(cookie)}`
    // clerk-js sets the form content type on every POST, with or without a body.
    if (method === 'POST') headers['content-type'] = 'application/x-www-form-urlencoded'
    const res = await t.app.inject({ method, url, headers, ...(method === 'POST' ? { payload: body ? new URLSearchParams(body).toString() : '' } : {}) })
    return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : undefined, headers: res.headers }
  }

  function assertError(res: Reply, status: number, code: string) {
    assert.equal(res.status, status, JSON.stringify(res.body))
    assert.equal(res.body.errors[0].code, code, JSON.stringify(res.body))
    assertMatchesFapi('ClerkErrors', res.body)
    assert.equal(res.headers['access-control-allow-origin'], APP_ORIGIN, 'refusals are readable by the page too')
  }

  /** An instance with an organization, its Frontend API path, and a person invited into it. */
  async function world(name: string) {
    const w = await orgWorld(t, { instanceName: name, orgName: `${name} Org` })
    const p = await person(w.api)
    return { ...w, p, fapi: `/fapi/${w.instance.id}` }
  }

  describe('user.getOrganizationInvitations() and invitation.accept()', () => {
    it('lists with clerk-js\'s paging and repeated status parameters, then accepting makes a member with the invited role', async () => {
      const w = await world('ClerkJsAccept')
      const older = await inviteTo(w, { email_address: w.p.email, role: 'org:admin', public_metadata: { team: 'ops' } })
      await w.api.post('/v1/testing/clock', { advance_ms: 1000 })
      const second = (await w.api.post('/v1/organizations', { name: 'Second', created_by: w.admin.id })).body
      const newer = await inviteTo({ api: w.api, orgId: second.id }, { email_address: w.p.email })
      const s = await signIn(w.instance, w.p.email)
      const list = (search: Search) => call('GET', clerkJsPath(w.fapi, '/me/organization_invitations', { search, sessionId: s.id }), s.token)

      // useOrganizationList's default: status 'pending', pages of 10.
      const all = await list(page({ status: 'pending' }))
      assert.equal(all.status, 200, JSON.stringify(all.body))
      assertMatchesFapi('Client.ClientWrappedOrganizationInvitationsUserContext', all.body)
      assert.deepEqual(all.body.response.data.map((i: any) => i.id), [newer.id, older.id])
      assert.equal(all.body.response.total_count, 2)
      assert.equal(all.headers['access-control-allow-origin'], APP_ORIGIN)
      const second2 = await list(page({ pageSize: 1, initialPage: 2, status: ['pending', 'accepted'] }))
      assert.ok(clerkJsPath('', '/x', { search: { status: ['pending', 'accepted'] } }).includes('status=pending&status=accepted'))
      assert.equal(second2.status, 200, JSON.stringify(second2.body))
      assert.deepEqual(second2.body.response.data.map((i: any) => i.id), [older.id])
      assert.equal(second2.body.response.total_count, 2)

      const accepted = await call('POST', clerkJsPath(w.fapi, `/me/organization_invitations/${older.id}/accept`, { sessionId: s.id }), s.token)
      assert.equal(accepted.status, 200, JSON.stringify(accepted.body))
      assertMatchesFapi('Client.ClientWrappedOrganizationInvitationUserContext', accepted.body)
      assert.equal(accepted.body.response.status, 'accepted')
      assert.equal(accepted.body.client.sessions[0].id, s.id)
      // clerk-js reads user.organizationMemberships and clerk.organization from the Client, and
      // writes the Session's last_active_token as the application's cookie (a null one removes it).
      const session = accepted.body.client.sessions[0]
      assertMatchesFapi('Client.Client-2', accepted.body.client)
      assert.equal(session.last_active_organization_id, w.orgId)
      assert.deepEqual(session.user.organization_memberships.map((m: any) => [m.object, m.organization.id, m.role, m.public_user_data.user_id]),
        [['organization_membership', w.orgId, 'org:admin', w.p.id]])
      assert.equal('private_metadata' in session.user.organization_memberships[0], false)
      assert.equal(session.last_active_token.object, 'token')
      const claims = JSON.parse(Buffer.from(session.last_active_token.jwt.split('.')[1], 'base64url').toString())
      assert.deepEqual([claims.sid, claims.o?.id, claims.o?.rol, claims.azp], [s.id, w.orgId, 'admin', APP_ORIGIN])
      const [membership] = await membershipsOf(w.api, w.p.id)
      assert.equal(membership.organization.id, w.orgId)
      assert.equal(membership.role, 'org:admin')
      assert.deepEqual(membership.public_metadata, { team: 'ops' })

      const pending = await list(page({ status: 'pending' }))
      assert.deepEqual(pending.body.response.data.map((i: any) => i.id), [newer.id])
      const both = await list(page({ status: ['pending', 'accepted'] }))
      assert.deepEqual(both.body.response.data.map((i: any) => [i.id, i.status]), [[newer.id, 'pending'], [older.id, 'accepted']])

      // user.getOrganizationMemberships() always asks for the paginated shape.
      const memberships = await call('GET', clerkJsPath(w.fapi, '/me/organization_memberships', { search: page({ paginated: true }), sessionId: s.id }), s.token)
      assert.equal(memberships.status, 200, JSON.stringify(memberships.body))
      assertMatchesFapi('Client.ClientWrappedOrganizationMemberships', memberships.body)
      assert.deepEqual(memberships.body.response.data.map((m: any) => [m.organization.id, m.role]), [[w.orgId, 'org:admin']])
      assert.equal(memberships.body.response.total_count, 1)
    })

    it('queues the same webhooks, with the same payloads, as accepting on the hosted pages', async () => {
      const w = await world('ClerkJsEvents')
      const other = await person(w.api)
      const throughFapi = await inviteTo(w, { email_address: w.p.email, role: 'org:admin', inviter_user_id: w.admin.id })
      const throughPage = await inviteTo(w, { email_address: other.email, role: 'org:admin', inviter_user_id: w.admin.id })
      // Both sign in first: their session.created is no part of the acceptance.
      const s = await signIn(w.instance, w.p.email)
      const b = await signedInBrowser(t, w.instance, other.email)
      const seen = new Set((await queuedEvents(t, w.instance.id)).map((e) => e.id))
      const newEvents = async () => {
        const events = (await queuedEvents(t, w.instance.id)).filter((e) => !seen.has(e.id))
        for (const e of events) seen.add(e.id)
        return events
      }

      assert.equal((await call('POST', clerkJsPath(w.fapi, `/me/organization_invitations/${throughFapi.id}/accept`, { sessionId: s.id }), s.token)).status, 200)
      const fapiEvents = await newEvents()

      const done = await b.submit(await b.follow(await b.get(throughPage.url)))
      assert.equal(done.statusCode, 303)
      const pageEvents = await newEvents()

      const types = (events: { type: string }[]) => events.map((e) => e.type).sort()
      assert.deepEqual(types(fapiEvents), ['organizationInvitation.accepted', 'organizationMembership.created'])
      assert.deepEqual(types(fapiEvents), types(pageEvents))
      const of = (events: typeof fapiEvents, type: string) => events.find((e) => e.type === type)!
      for (const type of types(fapiEvents)) {
        assert.deepEqual(Object.keys(of(fapiEvents, type).data).sort(), Object.keys(of(pageEvents, type).data).sort(), `${type}: the same payload`)
      }
      const acceptedEvent = of(fapiEvents, 'organizationInvitation.accepted')
      assert.equal(acceptedEvent.data.id, throughFapi.id)
      assert.equal(acceptedEvent.data.status, 'accepted')
      assert.equal(acceptedEvent.data.user_id, w.p.id)
      // (The reference's organizationInvitation.accepted schema admits no payload at all: its
      // allOf forbids the user_id it requires. The membership's is checked.)
      const membershipEvent = of(fapiEvents, 'organizationMembership.created')
      assertMatchesSpec(webhookEventValidator('organizationMembership.created'), membershipEvent, 'organizationMembership.created')
      assert.equal(membershipEvent.data.public_user_data.user_id, w.p.id)
      assert.equal(membershipEvent.data.role, 'org:admin')
    })

    it('refuses another person\'s, another instance\'s, a revoked and an expired invitation, consuming none', async () => {
      const w = await world('ClerkJsRefusals')
      const s = await signIn(w.instance, w.p.email)
      const accept = (fapi: string, id: string, session = s) =>
        call('POST', clerkJsPath(fapi, `/me/organization_invitations/${id}/accept`, { sessionId: session.id }), session.token)

      const someoneElses = await inviteTo(w)
      assertError(await accept(w.fapi, someoneElses.id), 404, 'organization_invitation_not_found')
      assert.equal((await invitationNow(w, someoneElses.id)).status, 'pending')

      // The same address invited by another instance: not this session's to accept.
      const elsewhere = await orgWorld(t, { instanceName: 'ClerkJsElsewhere' })
      const theirs = await inviteTo(elsewhere, { email_address: w.p.email })
      assertError(await accept(w.fapi, theirs.id), 404, 'organization_invitation_not_found')
      assertError(await accept(`/fapi/${elsewhere.instance.id}`, theirs.id), 401, 'signed_out')
      assert.equal((await invitationNow(elsewhere, theirs.id)).status, 'pending')

      const revoked = await inviteTo(w, { email_address: w.p.email })
      assert.equal((await w.api.post(`/v1/organizations/${w.orgId}/invitations/${revoked.id}/revoke`)).status, 200)
      assertError(await accept(w.fapi, revoked.id), 422, 'organization_invitation_not_pending')

      const expiring = await inviteTo(w, { email_address: w.p.email, expires_in_days: 1 })
      await w.api.post('/v1/testing/clock', { advance_ms: 2 * 24 * 60 * 60 * 1000 })
      assertError(await accept(w.fapi, expiring.id), 422, 'organization_invitation_not_pending')
      assert.deepEqual(await membershipsOf(w.api, w.p.id), [])
    })

    it('answers 401 signed_out without a session, and when clerk-js acts for another session than the cookie\'s', async () => {
      const w = await world('ClerkJsSignedOut')
      const inv = await inviteTo(w, { email_address: w.p.email })
      const s = await signIn(w.instance, w.p.email)
      const path = (sessionId: string | null) => clerkJsPath(w.fapi, `/me/organization_invitations/${inv.id}/accept`, { sessionId })
      assertError(await call('POST', path(null), null), 401, 'signed_out')
      assertError(await call('POST', path(s.id), 'made-up-token'), 401, 'signed_out')
      // clerk-js still holds an earlier session; the browser's cookie now holds another person's.
      const earlier = await signIn(w.instance, w.p.email)
      const someoneElse = await person(w.api)
      const now = await signIn(w.instance, someoneElse.email)
      assertError(await call('POST', path(earlier.id), now.token), 401, 'signed_out')
      assertError(await call('GET', clerkJsPath(w.fapi, '/me/organization_invitations', { search: page(), sessionId: earlier.id }), now.token), 401, 'signed_out')
      assertError(await call('GET', clerkJsPath(w.fapi, '/me/organization_memberships', { search: page({ paginated: true }), sessionId: earlier.id }), now.token), 401, 'signed_out')
      assert.equal((await invitationNow(w, inv.id)).status, 'pending')
      // Without the parameter (other clients), the cookie's session answers.
      assert.equal((await call('GET', `${w.fapi}/v1/me/organization_invitations`, s.token)).status, 200)
    })
  })

  describe('user.getOrganizationSuggestions()', () => {
    it('answers an empty page to a person no verified domain suggests anything to, for each status clerk-js asks', async () => {
      const w = await world('ClerkJsSuggestions')
      const s = await signIn(w.instance, w.p.email)
      const list = (search: Search) => call('GET', clerkJsPath(w.fapi, '/me/organization_suggestions', { search, sessionId: s.id }), s.token)
      // OrganizationList asks for both; useOrganizationList's default is pending.
      for (const status of [['pending', 'accepted'], 'pending', 'accepted']) {
        const res = await list(page({ status }))
        assert.equal(res.status, 200, JSON.stringify(res.body))
        assertMatchesFapi('Client.ClientWrappedOrganizationSuggestions', res.body)
        assert.deepEqual(res.body.response, { data: [], total_count: 0 })
      }
      assertError(await list(page({ status: 'bogus' })), 422, 'form_param_value_invalid')
      assertError(await call('GET', clerkJsPath(w.fapi, '/me/organization_suggestions', { search: page() }), null), 401, 'signed_out')
    })
  })

  describe('organization.inviteMember({ emailAddress, role })', () => {
    it('invites as the signed-in admin (form-encoded, under the instance\'s path); the invitee sees it and accepts it', async () => {
      const w = await world('ClerkJsInvite')
      const admin = await signIn(w.instance, w.admin.email)
      const email = uniqueEmail('clerk-js-invitee')
      const res = await call('POST', clerkJsPath(w.fapi, `/organizations/${w.orgId}/invitations`, { sessionId: admin.id }), admin.token, { email_address: email, role: 'org:member' })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assertMatchesFapi('Client.ClientWrappedOrganizationInvitation', res.body)
      assert.equal(res.body.response.email_address, email)
      assert.equal(res.body.response.organization_id, w.orgId)
      assert.equal(res.body.response.status, 'pending')
      assert.equal((await invitationNow(w, res.body.response.id)).inviter_id, w.admin.id)

      const invitee = await person(w.api, {}, email)
      const s = await signIn(w.instance, invitee.email)
      const mine = await call('GET', clerkJsPath(w.fapi, '/me/organization_invitations', { search: page({ status: 'pending' }), sessionId: s.id }), s.token)
      assert.deepEqual(mine.body.response.data.map((i: any) => [i.id, i.public_organization_data.id, i.role]), [[res.body.response.id, w.orgId, 'org:member']])
      const accepted = await call('POST', clerkJsPath(w.fapi, `/me/organization_invitations/${res.body.response.id}/accept`, { sessionId: s.id }), s.token)
      assert.equal(accepted.status, 200, JSON.stringify(accepted.body))
      assert.deepEqual((await membershipsOf(w.api, invitee.id)).map((m) => m.role), ['org:member'])

      // A member without org:sys_memberships:manage, and clerk-js acting for another session.
      assertError(await call('POST', clerkJsPath(w.fapi, `/organizations/${w.orgId}/invitations`, { sessionId: s.id }), s.token, { email_address: uniqueEmail(), role: 'org:member' }), 403, 'missing_organization_permission')
      assertError(await call('POST', clerkJsPath(w.fapi, `/organizations/${w.orgId}/invitations`, { sessionId: s.id }), admin.token, { email_address: uniqueEmail(), role: 'org:member' }), 401, 'signed_out')
    })
  })
})
