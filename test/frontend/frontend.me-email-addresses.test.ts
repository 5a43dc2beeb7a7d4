import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { buildTestApp, client, uniqueEmail, type Client, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { assertMatchesFapi } from '../helpers/spec.js'
import { makeOrganization } from '../helpers/factories.js'
import type { Instance } from '../../src/instance/instance.schemas.js'
import { fapi, ticketOf, type Fapi } from './fapi-client.js'
import { person, queuedEvents, sessionFor } from '../accept/org-helpers.js'

function assertError(res: { status: number; body: any }, status: number, code: string, param?: string) {
  assert.equal(res.status, status, JSON.stringify(res.body))
  assert.equal(res.body.errors[0].code, code, JSON.stringify(res.body))
  if (param) assert.equal(res.body.errors[0].meta.param_name, param)
  assertMatchesFapi('ClerkErrors', res.body)
}

forEachDatabase('Frontend API: /v1/me/email_addresses', (engine) => {
  let t: TestApp
  let f: Fapi
  let instance: Instance
  let api: Client
  let domainSeq = 0
  before(async () => {
    t = await buildTestApp({ engine })
    f = fapi(t.app)
    const created = await t.newInstance('Addresses')
    instance = created.instance
    api = client(t.app, created.secretKey)
  })
  after(() => t.close())

  /** The code emailed for the address, as the capturing mailer received it. */
  async function codeFor(addressId: string): Promise<string> {
    await t.outboxWorker.drain()
    const message = (await t.services.email.devMessages(200)).filter((m) => m.subject_id === addressId).at(-1)
    assert.ok(message, 'the code was emailed')
    return /^(\d{6}) /.exec(message.subject)![1]!
  }

  /** A signed-in person and their session token. */
  async function signedIn() {
    const p = await person(api)
    return { ...p, session: await sessionFor(t, instance, p.email) }
  }

  /** Adds an address for the session and emails it a code: the address's id. */
  async function addAndPrepare(session: string, email: string): Promise<string> {
    const added = await f.post('/v1/me/email_addresses', { email_address: email }, { session, form: true })
    assert.equal(added.status, 200, JSON.stringify(added.body))
    const prepared = await f.post(`/v1/me/email_addresses/${added.body.response.id}/prepare_verification`, { strategy: 'email_code' }, { session, form: true })
    assert.equal(prepared.status, 200, JSON.stringify(prepared.body))
    return added.body.response.id
  }

  describe('adding and verifying an address by emailed code', () => {
    it('creates it unverified, emails a code, verifies it with the code, in Clerk\'s shapes, and fires user.updated', async () => {
      const p = await signedIn()
      const email = uniqueEmail('second')
      const added = await f.post('/v1/me/email_addresses', { email_address: email.toUpperCase() }, { session: p.session, form: true })
      assert.equal(added.status, 200, JSON.stringify(added.body))
      assertMatchesFapi('Client.ClientWrappedEmailAddress', added.body)
      const id = added.body.response.id
      assert.equal(added.body.response.email_address, email)
      assert.equal(added.body.response.verification, null)
      const user = added.body.client.sessions[0].user
      assert.deepEqual(user.email_addresses.map((e: any) => e.email_address).sort(), [p.email, email].sort())
      assert.notEqual(user.primary_email_address_id, id, 'the first address stays primary')

      const prepared = await f.post(`/v1/me/email_addresses/${id}/prepare_verification`, { strategy: 'email_code' }, { session: p.session, form: true })
      assert.equal(prepared.status, 200, JSON.stringify(prepared.body))
      assertMatchesFapi('Client.ClientWrappedEmailAddress', prepared.body)
      assert.equal(prepared.body.response.verification.status, 'unverified')
      assert.equal(prepared.body.response.verification.strategy, 'email_code')
      const code = await codeFor(id)
      const message = (await t.services.email.devMessages(200)).find((m) => m.subject_id === id)!
      assert.equal(message.to_address, email)

      const wrong = code === '000000' ? '111111' : '000000'
      assertError(await f.post(`/v1/me/email_addresses/${id}/attempt_verification`, { code: wrong }, { session: p.session, form: true }), 422, 'form_code_incorrect', 'code')
      const before = (await queuedEvents(t, instance.id)).filter((e) => e.type === 'user.updated').length
      const verified = await f.post(`/v1/me/email_addresses/${id}/attempt_verification`, { code }, { session: p.session, form: true })
      assert.equal(verified.status, 200, JSON.stringify(verified.body))
      assertMatchesFapi('Client.ClientWrappedEmailAddress', verified.body)
      assert.equal(verified.body.response.verification.status, 'verified')
      assert.equal(verified.body.response.verification.strategy, 'email_code')
      assert.equal(verified.body.response.verification.attempts, 2, 'one wrong try and the right one')
      const listed = verified.body.client.sessions[0].user.email_addresses.find((e: any) => e.id === id)
      assert.equal(listed.verification.status, 'verified')
      const events = (await queuedEvents(t, instance.id)).filter((e) => e.type === 'user.updated')
      assert.equal(events.length, before + 1)
      // Queued in one instant, so found by content rather than by order.
      assert.ok(events.some((ev) => ev.data.email_addresses.some((e: any) => e.id === id && e.verification?.status === 'verified')))

      // Used once: the same code again finds the address verified already.
      assertError(await f.post(`/v1/me/email_addresses/${id}/attempt_verification`, { code }, { session: p.session, form: true }), 400, 'verification_already_verified')
      // The new address signs in.
      assert.equal((await t.services.accept.signIn({ instance, identifier: email, password: 'correct horse battery' })).user.id, p.id)
    })

    it('lists and gets the person\'s addresses, and deletes any but the primary one', async () => {
      const p = await signedIn()
      const id = await addAndPrepare(p.session, uniqueEmail('extra'))
      const list = await f.get('/v1/me/email_addresses', { session: p.session })
      assert.equal(list.status, 200, JSON.stringify(list.body))
      assertMatchesFapi('Server.UserEmailAddresses', list.body)
      assert.equal(list.body.length, 2)
      const one = await f.get(`/v1/me/email_addresses/${id}`, { session: p.session })
      assert.equal(one.status, 200, JSON.stringify(one.body))
      assertMatchesFapi('Client.ClientWrappedEmailAddress', one.body)

      const primaryId = list.body.find((e: any) => e.email_address === p.email).id
      assertError(await f.delete(`/v1/me/email_addresses/${primaryId}`, { session: p.session }), 409, 'primary_email_address_deletion_forbidden')
      const before = (await queuedEvents(t, instance.id)).filter((e) => e.type === 'user.updated').length
      const deleted = await f.delete(`/v1/me/email_addresses/${id}`, { session: p.session })
      assert.equal(deleted.status, 200, JSON.stringify(deleted.body))
      assertMatchesFapi('Client.ClientWrappedDeletedObject', deleted.body)
      assert.deepEqual(deleted.body.response, { object: 'email_address', id, deleted: true })
      assert.deepEqual(deleted.body.client.sessions[0].user.email_addresses.map((e: any) => e.id), [primaryId])
      assert.equal((await queuedEvents(t, instance.id)).filter((e) => e.type === 'user.updated').length, before + 1)
      assertError(await f.get(`/v1/me/email_addresses/${id}`, { session: p.session }), 404, 'resource_not_found')
    })

    it('answers 404 for another user\'s address, or one of another instance, and 401 signed out', async () => {
      const a = await signedIn()
      const b = await signedIn()
      const id = await addAndPrepare(a.session, uniqueEmail('mine'))
      const code = await codeFor(id)
      for (const path of [`/v1/me/email_addresses/${id}`]) assertError(await f.get(path, { session: b.session }), 404, 'resource_not_found')
      assertError(await f.post(`/v1/me/email_addresses/${id}/prepare_verification`, { strategy: 'email_code' }, { session: b.session, form: true }), 404, 'resource_not_found')
      assertError(await f.post(`/v1/me/email_addresses/${id}/attempt_verification`, { code }, { session: b.session, form: true }), 404, 'resource_not_found')
      assertError(await f.delete(`/v1/me/email_addresses/${id}`, { session: b.session }), 404, 'resource_not_found')

      const other = await t.newInstance('Elsewhere')
      const otherApi = client(t.app, other.secretKey)
      const c = await person(otherApi)
      const cSession = await sessionFor(t, other.instance, c.email)
      assertError(await f.get(`/v1/me/email_addresses/${id}`, { session: cSession }), 404, 'resource_not_found')
      assertError(await f.get('/v1/me/email_addresses'), 401, 'signed_out')
      // Still unverified, and A's code still works.
      const verified = await f.post(`/v1/me/email_addresses/${id}/attempt_verification`, { code }, { session: a.session, form: true })
      assert.equal(verified.status, 200, JSON.stringify(verified.body))
    })

    it('refuses an address another user of the instance holds with 422 form_identifier_exists, a blocklisted one, and other strategies', async () => {
      const a = await signedIn()
      const b = await signedIn()
      assertError(await f.post('/v1/me/email_addresses', { email_address: b.email }, { session: a.session, form: true }), 422, 'form_identifier_exists', 'email_address')
      assertError(await f.post('/v1/me/email_addresses', { email_address: 'not an address' }, { session: a.session, form: true }), 422, 'form_param_format_invalid', 'email_address')
      const blocked = uniqueEmail('blocked')
      assert.equal((await api.post('/v1/blocklist_identifiers', { identifier: blocked })).status, 200)
      assertError(await f.post('/v1/me/email_addresses', { email_address: blocked }, { session: a.session, form: true }), 403, 'not_allowed_access', 'email_address')
      const id = (await f.post('/v1/me/email_addresses', { email_address: uniqueEmail('s') }, { session: a.session, form: true })).body.response.id
      assertError(await f.post(`/v1/me/email_addresses/${id}/prepare_verification`, { strategy: 'email_link' }, { session: a.session, form: true }), 422, 'form_param_value_invalid', 'strategy')
      // No code was sent yet: nothing to type.
      assertError(await f.post(`/v1/me/email_addresses/${id}/attempt_verification`, { code: '123456' }, { session: a.session, form: true }), 400, 'verification_failed')
    })

    // @see issue 15: an address added unproved must not lock its owner out
    it('an unverified address reserves nothing: its owner is invited and signs up with it, others may add it, and whoever verifies first owns it', async () => {
      const squatter = await signedIn()
      const other = await signedIn()
      const taken = uniqueEmail('owner')
      const squattersId = await addAndPrepare(squatter.session, taken)
      const squatterCode = await codeFor(squattersId)
      // Another person may add it too, and its owner is still invited as a new person.
      const othersId = await addAndPrepare(other.session, taken)
      const invitation = await api.post('/v1/invitations', { email_address: taken, notify: false })
      assert.equal(invitation.status, 200, JSON.stringify(invitation.body))
      const signedUp = await f.post('/v1/client/sign_ups', { strategy: 'ticket', ticket: ticketOf(invitation.body), password: 'correct horse battery' }, { instance: instance.id, form: true })
      assert.equal(signedUp.status, 200, JSON.stringify(signedUp.body))
      assert.equal(signedUp.body.response.status, 'complete')
      // Now it is the owner's: neither earlier claim can be proved any more.
      assertError(await f.post(`/v1/me/email_addresses/${squattersId}/attempt_verification`, { code: squatterCode }, { session: squatter.session, form: true }), 422, 'form_identifier_exists', 'email_address')
      assertError(await f.post(`/v1/me/email_addresses/${othersId}/attempt_verification`, { code: await codeFor(othersId) }, { session: other.session, form: true }), 422, 'form_identifier_exists', 'email_address')
      assertError(await api.patch(`/v1/email_addresses/${othersId}`, { verified: true }), 422, 'form_identifier_exists', 'email_address')
      // Between two people who only added it, the first to verify it wins.
      const contested = uniqueEmail('contested')
      const [first, second] = [await addAndPrepare(squatter.session, contested), await addAndPrepare(other.session, contested)]
      assert.equal((await f.post(`/v1/me/email_addresses/${second}/attempt_verification`, { code: await codeFor(second) }, { session: other.session, form: true })).status, 200)
      assertError(await f.post(`/v1/me/email_addresses/${first}/attempt_verification`, { code: await codeFor(first) }, { session: squatter.session, form: true }), 422, 'form_identifier_exists', 'email_address')
      // One person holds an address once.
      assertError(await f.post('/v1/me/email_addresses', { email_address: contested }, { session: other.session, form: true }), 422, 'form_identifier_exists', 'email_address')
    })

    it('allows five tries per code, then verification_failed until a new code; an expired code answers verification_expired', async () => {
      const p = await signedIn()
      const id = await addAndPrepare(p.session, uniqueEmail('tries'))
      const code = await codeFor(id)
      const wrong = code === '000000' ? '111111' : '000000'
      const attempt = (c: string) => f.post(`/v1/me/email_addresses/${id}/attempt_verification`, { code: c }, { session: p.session, form: true })
      for (let i = 0; i < 5; i++) assertError(await attempt(wrong), 422, 'form_code_incorrect', 'code')
      assertError(await attempt(code), 400, 'verification_failed', 'code')

      // A new code (the resend interval passed) replaces the old one, with fresh tries.
      await api.post('/v1/testing/clock', { advance_ms: 31_000 })
      const again = await f.post(`/v1/me/email_addresses/${id}/prepare_verification`, { strategy: 'email_code' }, { session: p.session, form: true })
      assert.equal(again.status, 200, JSON.stringify(again.body))
      const second = await codeFor(id)
      if (second !== code) assertError(await attempt(code), 422, 'form_code_incorrect', 'code')
      await api.post('/v1/testing/clock', { advance_ms: 11 * 60_000 })
      assertError(await attempt(second), 400, 'verification_expired', 'code')
    })
  })

  describe('POST /v1/me/email_addresses/{id}/prepare_verification', () => {
    it('sends no new code within 30 seconds, and counts codes against the inbox\'s hourly budget shared with sign-ups', async () => {
      const p = await signedIn()
      const email = uniqueEmail('budget')
      // One code email to this inbox already, from a sign-up.
      assert.equal((await f.post('/v1/client/sign_ups', { email_address: email.replace('@', '+signup@'), password: 'correct horse battery' }, { instance: instance.id, form: true })).status, 200)
      const id = await addAndPrepare(p.session, email)
      const prepare = () => f.post(`/v1/me/email_addresses/${id}/prepare_verification`, { strategy: 'email_code' }, { session: p.session, form: true })
      assert.equal((await prepare()).status, 200)
      await t.outboxWorker.drain()
      assert.equal((await t.services.email.devMessages(200)).filter((m) => m.subject_id === id).length, 1, 'not again within 30 seconds')
      for (let i = 0; i < 3; i++) {
        await api.post('/v1/testing/clock', { advance_ms: 31_000 })
        assert.equal((await prepare()).status, 200)
      }
      await api.post('/v1/testing/clock', { advance_ms: 31_000 })
      const refused = await prepare()
      assertError(refused, 429, 'too_many_requests')
      assert.ok(Number(refused.headers['retry-after']) > 0)
    })
  })

  describe('matching any verified address, as Clerk does', () => {
    const uniqueDomain = () => `d${Date.now().toString(36)}${(domainSeq++).toString(36)}.example.org`

    /** Verifies a second address at `domain` for a new signed-in person. */
    async function withSecondAddress(email: string) {
      const p = await signedIn()
      const id = await addAndPrepare(p.session, email)
      const verified = await f.post(`/v1/me/email_addresses/${id}/attempt_verification`, { code: await codeFor(id) }, { session: p.session, form: true })
      assert.equal(verified.status, 200, JSON.stringify(verified.body))
      return { ...p, secondId: id, second: email }
    }

    it('a second address verified at an organization\'s verified domain brings its suggestion, or its automatic invitation', async () => {
      const admin = await person(api)
      const suggesting = await makeOrganization(api, { name: 'Suggesting', created_by: admin.id })
      const inviting = await makeOrganization(api, { name: 'Inviting', created_by: admin.id })
      const suggested = uniqueDomain()
      const invited = uniqueDomain()
      assert.equal((await api.post(`/v1/organizations/${suggesting.id}/domains`, { name: suggested, enrollment_mode: 'automatic_suggestion' })).status, 200)
      assert.equal((await api.post(`/v1/organizations/${inviting.id}/domains`, { name: invited, enrollment_mode: 'automatic_invitation' })).status, 200)

      // An address merely added (unverified) enrols nobody.
      const idle = await signedIn()
      await addAndPrepare(idle.session, `idle.${domainSeq}@${suggested}`)
      assert.equal((await f.get('/v1/me/organization_suggestions', { session: idle.session })).body.response.total_count, 0)

      const p = await withSecondAddress(`p.${domainSeq}@${suggested}`)
      const suggestions = await f.get('/v1/me/organization_suggestions', { session: p.session })
      assert.deepEqual(suggestions.body.response.data.map((s: any) => s.public_organization_data.id), [suggesting.id])

      const q = await withSecondAddress(`q.${domainSeq}@${invited}`)
      const invitations = await f.get('/v1/me/organization_invitations', { session: q.session })
      assert.equal(invitations.status, 200, JSON.stringify(invitations.body))
      assert.deepEqual(invitations.body.response.data.map((i: any) => [i.public_organization_data.id, i.email_address]), [[inviting.id, q.second]])
      const accepted = await f.post(`/v1/me/organization_invitations/${invitations.body.response.data[0].id}/accept`, {}, { session: q.session, form: true })
      assert.equal(accepted.status, 200, JSON.stringify(accepted.body))
    })

    it('a second address the Backend API adds verified, or verifies later, enrols as well', async () => {
      const admin = await person(api)
      const org = await makeOrganization(api, { name: 'Operator', created_by: admin.id })
      const domain = uniqueDomain()
      assert.equal((await api.post(`/v1/organizations/${org.id}/domains`, { name: domain, enrollment_mode: 'automatic_suggestion' })).status, 200)
      const a = await signedIn()
      assert.equal((await api.post('/v1/email_addresses', { user_id: a.id, email_address: `a.${domainSeq}@${domain}`, verified: true })).status, 200)
      const b = await signedIn()
      const added = await api.post('/v1/email_addresses', { user_id: b.id, email_address: `b.${domainSeq}@${domain}` })
      assert.equal((await f.get('/v1/me/organization_suggestions', { session: b.session })).body.response.total_count, 0)
      assert.equal((await api.patch(`/v1/email_addresses/${added.body.id}`, { verified: true })).status, 200)
      for (const who of [a, b]) {
        const suggestions = await f.get('/v1/me/organization_suggestions', { session: who.session })
        assert.deepEqual(suggestions.body.response.data.map((s: any) => s.public_organization_data.id), [org.id])
      }
    })

    it('an invitation to a person\'s second verified address is theirs: its ticket signs them in, and accepts it', async () => {
      const admin = await person(api)
      const org = await makeOrganization(api, { name: 'Ticketed', created_by: admin.id })
      const p = await withSecondAddress(uniqueEmail('alt'))
      const invitation = (await api.post(`/v1/organizations/${org.id}/invitations`, { email_address: p.second, role: 'org:member', notify: false })).body
      const listed = await f.get('/v1/me/organization_invitations', { session: p.session })
      assert.deepEqual(listed.body.response.data.map((i: any) => i.id), [invitation.id])
      const signIn = await f.post('/v1/client/sign_ins', { strategy: 'ticket', ticket: ticketOf(invitation) }, { instance: instance.id, form: true })
      assert.equal(signIn.status, 200, JSON.stringify(signIn.body))
      assert.equal(signIn.body.response.status, 'complete')
      assert.equal(signIn.body.client.sessions[0].user.id, p.id)
      const members = (await api.get(`/v1/users/${p.id}/organization_memberships`)).body.data
      assert.deepEqual(members.map((m: any) => m.organization.id), [org.id])
    })

    it('an address only listed, not verified, collects no invitation: its ticket does not sign into that account', async () => {
      const admin = await person(api)
      const org = await makeOrganization(api, { name: 'Unproved', created_by: admin.id })
      const squatter = await signedIn()
      const email = uniqueEmail('unproved')
      await addAndPrepare(squatter.session, email)
      const invitation = (await api.post(`/v1/organizations/${org.id}/invitations`, { email_address: email, role: 'org:member', notify: false })).body
      assert.equal((await f.get('/v1/me/organization_invitations', { session: squatter.session })).body.response.total_count, 0)
      const signIn = await f.post('/v1/client/sign_ins', { strategy: 'ticket', ticket: ticketOf(invitation) }, { instance: instance.id, form: true })
      assert.notEqual(signIn.status, 200, JSON.stringify(signIn.body))
    })
  })
})
