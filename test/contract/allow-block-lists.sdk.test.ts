import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { ClerkClient } from '@clerk/backend'
import { client, uniqueEmail, type Client, type TestApp, forEachSdkTarget, startSdkServer, type SdkServer } from '../helpers/build-app.js'
import { makeOrganization } from '../helpers/factories.js'
import { assertMatchesFapi, assertMatchesSpec, loadBapiSpec } from '../helpers/spec.js'
import { fapi, ticketOf, type Fapi } from '../frontend/fapi-client.js'
import { browser, textOf } from '../pages/page-client.js'
import { SESSION_COOKIE } from '../../src/accept/session-cookie.js'
import type { Instance } from '../../src/instance/instance.schemas.js'
import { assertClerkError, createClerkClient, recordEachTest, recorded, sdkError } from './sdk-recorder.js'

const spec = loadBapiSpec()
const PASSWORD = 'correct horse battery'

forEachSdkTarget('@clerk/backend allowlist and blocklist', (target) => {
  let server: SdkServer
  let t: TestApp
  let f: Fapi
  let apiUrl: string

  before(async () => {
    server = await startSdkServer(target)
    t = server.t
    f = fapi(t.app)
    apiUrl = server.apiUrl
  })
  after(() => server.close())
  recordEachTest()

  const newClerk = async (): Promise<{ clerk: ClerkClient; api: Client; instance: Instance }> => {
    const { secretKey, instance } = await t.newInstance()
    return { clerk: createClerkClient({ secretKey, apiUrl, telemetry: { disabled: true } }), api: client(t.app, secretKey), instance }
  }

  describe('allowlistIdentifiers', () => {
    it('createAllowlistIdentifier stores an address or a domain lower-cased; the list pages newest first; delete answers a DeletedObject', async () => {
      const { clerk, api } = await newClerk()
      const email = uniqueEmail('allow')
      const added = await clerk.allowlistIdentifiers.createAllowlistIdentifier({ identifier: `  ${email.toUpperCase()} `, notify: false })
      const raw = recorded('POST', '/v1/allowlist_identifiers')
      assert.equal(raw.status, 200)
      assertMatchesSpec(spec.response('CreateAllowlistIdentifier', 200), raw.body, 'POST /v1/allowlist_identifiers 200 body')
      assert.equal(raw.body.object, 'allowlist_identifier')
      assert.match(added.id, /^alid_/)
      assert.equal(added.identifier, email)
      assert.equal(added.identifierType, 'email_address')
      assert.equal(added.invitationId, undefined)

      t.clock.advance(1000)
      const domain = await clerk.allowlistIdentifiers.createAllowlistIdentifier({ identifier: '@Example.ORG', notify: false })
      assert.equal(domain.identifier, '*@example.org')

      const list = await clerk.allowlistIdentifiers.getAllowlistIdentifierList()
      const listed = recorded('GET', '/v1/allowlist_identifiers')
      assert.equal(listed.url.searchParams.get('paginated'), 'true')
      for (const item of listed.body.data) assertMatchesSpec(spec.component('AllowlistIdentifier'), item, 'allowlist item')
      assert.equal(list.totalCount, 2)
      assert.deepEqual(list.data.map((i) => i.id), [domain.id, added.id])

      // Without paginated=true, Clerk's plain array (the spec's answer).
      const plain = await api.get('/v1/allowlist_identifiers?limit=1&offset=1')
      assertMatchesSpec(spec.response('ListAllowlistIdentifiers', 200), plain.body, 'GET /v1/allowlist_identifiers 200 body')
      assert.deepEqual(plain.body.map((i: { id: string }) => i.id), [added.id])

      const deleted = await clerk.allowlistIdentifiers.deleteAllowlistIdentifier(added.id)
      const rawDeleted = recorded('DELETE', `/v1/allowlist_identifiers/${added.id}`)
      assertMatchesSpec(spec.response('DeleteAllowlistIdentifier', 200), rawDeleted.body, 'DELETE 200 body')
      assert.deepEqual(rawDeleted.body, { object: 'allowlist_identifier', id: added.id, deleted: true })
      assert.equal(deleted.id, added.id)
      assert.deepEqual((await clerk.allowlistIdentifiers.getAllowlistIdentifierList()).data.map((i) => i.id), [domain.id])
    })

    it('a duplicate answers 400 duplicate_record and anything but an address or a domain 422, both naming identifier', async () => {
      const { clerk } = await newClerk()
      const email = uniqueEmail('dup')
      await clerk.allowlistIdentifiers.createAllowlistIdentifier({ identifier: email, notify: false })
      const dup = await sdkError(clerk.allowlistIdentifiers.createAllowlistIdentifier({ identifier: email.toUpperCase(), notify: false }))
      assertClerkError(dup, recorded('POST', '/v1/allowlist_identifiers'), {
        status: 400, code: 'duplicate_record', paramName: 'identifier', schema: spec.response('CreateAllowlistIdentifier', 400),
      })
      for (const identifier of ['+15555550100', 'not an address', '*@', 'example.com']) {
        const bad = await sdkError(clerk.allowlistIdentifiers.createAllowlistIdentifier({ identifier, notify: false }))
        assertClerkError(bad, recorded('POST', '/v1/allowlist_identifiers'), {
          status: 422, code: 'form_param_format_invalid', paramName: 'identifier', schema: spec.response('CreateAllowlistIdentifier', 422),
        })
      }
    })

    it('notify: true sends an invitation email through the outbox and answers its invitation_id; a domain gets none', async () => {
      const { clerk, api } = await newClerk()
      const email = uniqueEmail('notified')
      const added = await clerk.allowlistIdentifiers.createAllowlistIdentifier({ identifier: email, notify: true })
      assertMatchesSpec(spec.response('CreateAllowlistIdentifier', 200), recorded('POST', '/v1/allowlist_identifiers').body, 'POST 200 body')
      assert.match(added.invitationId ?? '', /^inv_/)
      const invitation = (await api.get(`/v1/invitations?query=${encodeURIComponent(email)}`)).body
      assert.deepEqual(invitation.map((i: { id: string }) => i.id), [added.invitationId])
      await t.outboxWorker.drain()
      const emails = await t.db.query<{ status: string; payload: { to: string } }>(
        `select status, payload from outbox where subject_id = $1 and kind = 'email'`, [added.invitationId])
      assert.deepEqual(emails.map((e) => [e.status, e.payload.to]), [['delivered', email]])

      const domain = await clerk.allowlistIdentifiers.createAllowlistIdentifier({ identifier: '*@notify.example.net', notify: true })
      assert.equal(domain.invitationId, undefined)
    })

    it('another instance\'s key neither sees nor deletes an entry (404 resource_not_found)', async () => {
      const { clerk } = await newClerk()
      const { clerk: stranger } = await newClerk()
      const entry = await clerk.allowlistIdentifiers.createAllowlistIdentifier({ identifier: uniqueEmail('mine'), notify: false })
      const blocked = await clerk.blocklistIdentifiers.createBlocklistIdentifier({ identifier: uniqueEmail('mine.blocked') })
      assert.equal((await stranger.allowlistIdentifiers.getAllowlistIdentifierList()).totalCount, 0)
      const err = await sdkError(stranger.allowlistIdentifiers.deleteAllowlistIdentifier(entry.id))
      assertClerkError(err, recorded('DELETE', `/v1/allowlist_identifiers/${entry.id}`), {
        status: 404, code: 'resource_not_found', schema: spec.response('DeleteAllowlistIdentifier', 404),
      })
      const err2 = await sdkError(stranger.blocklistIdentifiers.deleteBlocklistIdentifier(blocked.id))
      assertClerkError(err2, recorded('DELETE', `/v1/blocklist_identifiers/${blocked.id}`), {
        status: 404, code: 'resource_not_found', schema: spec.response('DeleteBlocklistIdentifier', 404),
      })
      // An allowlist id is not a blocklist one, even with the right key.
      assert.equal((await sdkError(clerk.blocklistIdentifiers.deleteBlocklistIdentifier(entry.id))).status, 404)
      assert.equal((await clerk.allowlistIdentifiers.getAllowlistIdentifierList()).totalCount, 1)
    })
  })

  describe('blocklistIdentifiers', () => {
    it('createBlocklistIdentifier, getBlocklistIdentifierList and deleteBlocklistIdentifier answer the spec\'s shapes', async () => {
      const { clerk } = await newClerk()
      const email = uniqueEmail('block')
      const added = await clerk.blocklistIdentifiers.createBlocklistIdentifier({ identifier: email })
      const raw = recorded('POST', '/v1/blocklist_identifiers')
      assertMatchesSpec(spec.response('CreateBlocklistIdentifier', 200), raw.body, 'POST /v1/blocklist_identifiers 200 body')
      assert.equal(raw.body.object, 'blocklist_identifier')
      assert.match(added.id, /^blid_/)
      assert.equal(added.identifier, email)

      const list = await clerk.blocklistIdentifiers.getBlocklistIdentifierList()
      assertMatchesSpec(spec.response('ListBlocklistIdentifiers', 200), recorded('GET', '/v1/blocklist_identifiers').body, 'GET 200 body')
      assert.equal(list.totalCount, 1)
      assert.equal(list.data[0]?.id, added.id)

      const dup = await sdkError(clerk.blocklistIdentifiers.createBlocklistIdentifier({ identifier: email }))
      assertClerkError(dup, recorded('POST', '/v1/blocklist_identifiers'), {
        status: 400, code: 'duplicate_record', paramName: 'identifier', schema: spec.response('CreateBlocklistIdentifier', 400),
      })
      const bad = await sdkError(clerk.blocklistIdentifiers.createBlocklistIdentifier({ identifier: 'nobody' }))
      assertClerkError(bad, recorded('POST', '/v1/blocklist_identifiers'), {
        status: 422, code: 'form_param_format_invalid', paramName: 'identifier', schema: spec.response('CreateBlocklistIdentifier', 422),
      })

      await clerk.blocklistIdentifiers.deleteBlocklistIdentifier(added.id)
      const rawDeleted = recorded('DELETE', `/v1/blocklist_identifiers/${added.id}`)
      assertMatchesSpec(spec.response('DeleteBlocklistIdentifier', 200), rawDeleted.body, 'DELETE 200 body')
      assert.deepEqual(rawDeleted.body, { object: 'blocklist_identifier', id: added.id, deleted: true })
      assert.equal((await clerk.blocklistIdentifiers.getBlocklistIdentifierList()).totalCount, 0)
    })

    it('a blocklisted address or domain cannot be invited: 422 not_allowed_access naming email_address, also in bulk and into organizations', async () => {
      const { clerk, api } = await newClerk()
      const email = uniqueEmail('noinvite')
      await clerk.blocklistIdentifiers.createBlocklistIdentifier({ identifier: email })
      await clerk.blocklistIdentifiers.createBlocklistIdentifier({ identifier: '*@blocked.example.net' })

      const refused = await sdkError(clerk.invitations.createInvitation({ emailAddress: email.toUpperCase() }))
      assertClerkError(refused, recorded('POST', '/v1/invitations'), {
        status: 422, code: 'not_allowed_access', paramName: 'email_address', schema: spec.response('CreateInvitation', 422),
      })
      const byDomain = await sdkError(clerk.invitations.createInvitation({ emailAddress: 'someone@blocked.example.net' }))
      assert.equal(byDomain.errors[0]?.code, 'not_allowed_access')

      const bulk = await api.post('/v1/invitations/bulk', [{ email_address: uniqueEmail('fine') }, { email_address: email }])
      assert.equal(bulk.status, 422, JSON.stringify(bulk.body))
      assert.equal(bulk.body.errors[0].code, 'not_allowed_access')
      assert.equal(bulk.body.errors[0].meta.param_name, '[1].email_address')
      assert.equal((await api.get('/v1/invitations')).body.length, 0, 'the whole batch was refused')

      const org = await makeOrganization(api)
      const orgRefused = await sdkError(clerk.organizations.createOrganizationInvitation({ organizationId: org.id, emailAddress: email, role: 'org:member' }))
      assertClerkError(orgRefused, recorded('POST', `/v1/organizations/${org.id}/invitations`), {
        status: 422, code: 'not_allowed_access', paramName: 'email_address', schema: spec.response('CreateOrganizationInvitation', 422),
      })

      // The waitlist invites through the same rules.
      const entry = await api.post('/v1/waitlist_entries', { email_address: email })
      assert.equal(entry.status, 200, JSON.stringify(entry.body))
      const invited = await api.post(`/v1/waitlist_entries/${entry.body.id}/invite`, {})
      assert.equal(invited.status, 422, JSON.stringify(invited.body))
      assert.equal(invited.body.errors[0].code, 'not_allowed_access')

      // Once off the list, the address can be invited again.
      const [blocked] = (await clerk.blocklistIdentifiers.getBlocklistIdentifierList()).data.filter((i) => i.identifier === email)
      await clerk.blocklistIdentifiers.deleteBlocklistIdentifier(blocked!.id)
      assert.equal((await clerk.invitations.createInvitation({ emailAddress: email, notify: false })).emailAddress, email)
    })
  })

  describe('enforcement in sign-up and sign-in', () => {
    const fapiSignUp = (instance: Instance, email: string) =>
      f.post('/v1/client/sign_ups', { strategy: 'email_code', email_address: email, password: PASSWORD }, { instance: instance.id, form: true })
    const fapiSignIn = (instance: Instance, email: string) =>
      f.post('/v1/client/sign_ins', { identifier: email, password: PASSWORD }, { instance: instance.id, form: true })

    it('in restricted mode an allowlisted address (or domain) signs up without an invitation; any other gets 403 sign_up_restricted', async () => {
      const { clerk, api, instance } = await newClerk()
      assert.equal((await api.patch('/v1/instance', { sign_up_mode: 'restricted' })).status, 200)
      const listed = uniqueEmail('listed')
      await clerk.allowlistIdentifiers.createAllowlistIdentifier({ identifier: listed, notify: false })
      await clerk.allowlistIdentifiers.createAllowlistIdentifier({ identifier: '*@allowed.example.net', notify: false })
      const refreshed = { ...instance, signUpMode: 'restricted' as const }

      const started = await fapiSignUp(refreshed, listed.toUpperCase())
      assert.equal(started.status, 200, JSON.stringify(started.body))
      assert.equal(started.body.response.status, 'missing_requirements')
      assert.equal((await fapiSignUp(refreshed, 'anyone@allowed.example.net')).status, 200)

      const refused = await fapiSignUp(refreshed, uniqueEmail('unlisted'))
      assert.equal(refused.status, 403)
      assert.equal(refused.body.errors[0].code, 'sign_up_restricted')
      assertMatchesFapi('ClerkErrors', refused.body)

      // The hosted page offers the form while the allowlist has entries, and holds it to the list.
      const b = browser(t.app)
      const form = await b.get(`/sign-up?instance=${instance.id}`)
      assert.equal(form.statusCode, 200)
      const ok = await b.submit(form, { email_address: uniqueEmail('page').replace('@example.com', '@allowed.example.net'), password: PASSWORD })
      assert.equal(ok.statusCode, 303, ok.body)
      assert.match(String(ok.headers.location), /\/sign-up\/verify\?/)
      const no = await b.submit(await b.get(`/sign-up?instance=${instance.id}`), { email_address: uniqueEmail('page.unlisted'), password: PASSWORD })
      assert.equal(no.statusCode, 403)
      assert.match(textOf(no.body), /invitation/)

      // The Frontend API environment says the allowlist is in force.
      const env = await f.get('/v1/environment', { instance: instance.id })
      assert.deepEqual([env.body.user_settings.restrictions.allowlist.enabled, env.body.user_settings.restrictions.blocklist.enabled], [true, false])
    })

    it('a blocklisted address cannot sign up (403 not_allowed_access naming email_address), in public mode, when allowlisted, or with an earlier invitation', async () => {
      const { clerk, api, instance } = await newClerk()
      const email = uniqueEmail('nosignup')
      const invitation = await clerk.invitations.createInvitation({ emailAddress: email, notify: false })
      await clerk.blocklistIdentifiers.createBlocklistIdentifier({ identifier: email })
      const refused = await fapiSignUp(instance, email)
      assert.equal(refused.status, 403, JSON.stringify(refused.body))
      assert.equal(refused.body.errors[0].code, 'not_allowed_access')
      assert.equal(refused.body.errors[0].meta.param_name, 'email_address')
      assertMatchesFapi('ClerkErrors', refused.body)

      const b = browser(t.app)
      const page = await b.submit(await b.get(`/sign-up?instance=${instance.id}`), { email_address: email, password: PASSWORD })
      assert.equal(page.statusCode, 403)
      assert.match(textOf(page.body), /blocklist/)

      const env = await f.get('/v1/environment', { instance: instance.id })
      assert.equal(env.body.user_settings.restrictions.blocklist.enabled, true)

      // The invitation made before the address was blocked signs no one up: the sign-in gate refuses the session, and the user with it.
      const ticket = await f.post('/v1/client/sign_ups', { strategy: 'ticket', ticket: ticketOf({ url: invitation.url! }), password: PASSWORD }, { form: true })
      assert.equal(ticket.status, 403, JSON.stringify(ticket.body))
      assert.equal(ticket.body.errors[0].code, 'not_allowed_access')
      assert.equal((await clerk.users.getUserList({ emailAddress: [email] })).totalCount, 0)

      await api.patch('/v1/instance', { sign_up_mode: 'restricted' })
      await clerk.allowlistIdentifiers.createAllowlistIdentifier({ identifier: email, notify: false })
      const allowlisted = await fapiSignUp({ ...instance, signUpMode: 'restricted' }, email)
      assert.equal(allowlisted.status, 403)
      assert.equal(allowlisted.body.errors[0].code, 'not_allowed_access')
    })

    it('a user whose address (or its domain) is blocklisted cannot sign in through the Frontend API or the hosted page (403 not_allowed_access); removed from the list, they can', async () => {
      const { clerk, instance } = await newClerk()
      const email = uniqueEmail('nosignin').replace('@example.com', '@signin.example.net')
      await clerk.users.createUser({ emailAddress: [email], password: PASSWORD })
      assert.equal((await fapiSignIn(instance, email)).status, 200)

      const entry = await clerk.blocklistIdentifiers.createBlocklistIdentifier({ identifier: '*@signin.example.net' })
      const refused = await fapiSignIn(instance, email)
      assert.equal(refused.status, 403, JSON.stringify(refused.body))
      assert.equal(refused.body.errors[0].code, 'not_allowed_access')
      assertMatchesFapi('ClerkErrors', refused.body)
      assert.equal(refused.session, null)

      const b = browser(t.app)
      const page = await b.submit(await b.get(`/sign-in?instance=${instance.id}`), { identifier: email, password: PASSWORD })
      assert.equal(page.statusCode, 403)
      assert.equal(b.jar.get(SESSION_COOKIE), undefined)

      await clerk.blocklistIdentifiers.deleteBlocklistIdentifier(entry.id)
      assert.equal((await fapiSignIn(instance, email)).status, 200)
    })
  })
})
