import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { ClerkClient } from '@clerk/backend'
import type { ClerkAPIResponseError } from '@clerk/backend/errors'
import type { ValidateFunction } from 'ajv'
import { PUBLIC_URL, uniqueEmail, type TestApp, forEachSdkTarget, startSdkServer, type SdkServer } from '../helpers/build-app.js'
import { assertMatchesSpec, loadBapiSpec } from '../helpers/spec.js'
import { createClerkClient, exchanges, recordEachTest, recorded, sdkError, type Exchange } from './sdk-recorder.js'

const spec = loadBapiSpec()

function assertClerkError(err: ClerkAPIResponseError, raw: Exchange & { body: any }, expected: { status: number; code: string; paramName?: string; schema: ValidateFunction }) {
  assert.equal(raw.status, expected.status)
  assertMatchesSpec(expected.schema, raw.body, `${raw.method} ${raw.url.pathname} ${raw.status} body`)
  assert.equal(err.status, expected.status)
  assert.equal(err.errors[0]?.code, expected.code)
  assert.ok(err.errors[0]?.longMessage)
  if (expected.paramName !== undefined) assert.equal(err.errors[0]?.meta?.paramName, expected.paramName)
  assert.equal(err.clerkTraceId, raw.body.clerk_trace_id)
}

forEachSdkTarget('@clerk/backend users and waitlist', (target) => {
  let server: SdkServer
  let t: TestApp
  let apiUrl: string

  before(async () => {
    server = await startSdkServer(target)
    t = server.t
    apiUrl = server.apiUrl
  })
  after(() => server.close())
  recordEachTest()

  const newClerk = async (): Promise<ClerkClient> => {
    const { secretKey } = await t.newInstance()
    return createClerkClient({ secretKey, apiUrl, telemetry: { disabled: true } })
  }

  describe('users', () => {
    it('createUser returns a User with its verified primary address and a spec-valid body', async () => {
      const clerk = await newClerk()
      const emailAddress = uniqueEmail('sdk.user')
      const user = await clerk.users.createUser({
        emailAddress: [emailAddress], password: 'a long password', firstName: 'Sdk', lastName: 'User',
        publicMetadata: { planTier: 'pro' }, privateMetadata: { crmId: 7 }, unsafeMetadata: { seenTour: true },
      })
      const raw = recorded('POST', '/v1/users')
      assert.equal(raw.status, 200)
      assertMatchesSpec(spec.response('CreateUser', 200), raw.body, 'POST /v1/users 200 body')
      assert.deepEqual(user.raw, raw.body)

      assert.match(user.id, /^user_/)
      assert.equal(user.firstName, 'Sdk')
      assert.equal(user.fullName, 'Sdk User')
      assert.equal(user.passwordEnabled, true)
      assert.deepEqual(user.publicMetadata, { planTier: 'pro' })
      assert.deepEqual(user.privateMetadata, { crmId: 7 })
      assert.deepEqual(user.unsafeMetadata, { seenTour: true })
      assert.equal(user.primaryEmailAddress?.emailAddress, emailAddress)
      assert.equal(user.primaryEmailAddress?.verification?.status, 'verified')
      assert.equal(user.primaryEmailAddress?.verification?.strategy, 'admin')
      assert.equal(user.banned, false)
      assert.equal(user.lastSignInAt, null)
      assert.equal(typeof user.createdAt, 'number')
    })

    it('createUser with a taken address throws 422 form_identifier_exists naming email_address; two addresses are refused', async () => {
      const clerk = await newClerk()
      const emailAddress = uniqueEmail('sdk.taken')
      await clerk.users.createUser({ emailAddress: [emailAddress] })
      const taken = await sdkError(clerk.users.createUser({ emailAddress: [emailAddress.toUpperCase()] }))
      assertClerkError(taken, recorded('POST', '/v1/users'), {
        status: 422, code: 'form_identifier_exists', paramName: 'email_address', schema: spec.response('CreateUser', 422),
      })
      const twice = uniqueEmail()
      const repeated = await sdkError(clerk.users.createUser({ emailAddress: [twice, twice] }))
      assertClerkError(repeated, recorded('POST', '/v1/users'), {
        status: 422, code: 'form_param_value_invalid', paramName: 'email_address', schema: spec.response('CreateUser', 422),
      })
      const pair = [uniqueEmail('pair'), uniqueEmail('pair')]
      const both = await clerk.users.createUser({ emailAddress: pair })
      assertMatchesSpec(spec.response('CreateUser', 200), recorded('POST', '/v1/users').body, 'POST /v1/users 200 body, two addresses')
      assert.deepEqual(both.emailAddresses.map((e) => e.emailAddress), pair)
      assert.equal(both.primaryEmailAddressId, both.emailAddresses[0]!.id)
      const short = await sdkError(clerk.users.createUser({ emailAddress: [uniqueEmail()], password: 'short' }))
      assertClerkError(short, recorded('POST', '/v1/users'), {
        status: 422, code: 'form_password_length_too_short', paramName: 'password', schema: spec.response('CreateUser', 422),
      })
    })

    it('getUserList returns {data, totalCount} from the list and the count, with and without filters', async () => {
      const clerk = await newClerk()
      const made = []
      for (const name of ['carol', 'alice', 'bob']) {
        made.push(await clerk.users.createUser({ emailAddress: [uniqueEmail(name)], firstName: name }))
        t.clock.advance(1)
      }
      const [carol, alice, bob] = made

      const all = await clerk.users.getUserList()
      const rawList = recorded('GET', '/v1/users')
      assertMatchesSpec(spec.response('GetUserList', 200), rawList.body, 'GET /v1/users 200 body')
      assertMatchesSpec(spec.response('GetUsersCount', 200), recorded('GET', '/v1/users/count').body, 'GET /v1/users/count 200 body')
      assert.equal(all.totalCount, 3)
      assert.deepEqual(all.data.map((u) => u.id), [bob!.id, alice!.id, carol!.id])

      const page = await clerk.users.getUserList({ limit: 1, offset: 1, orderBy: '+created_at' })
      assert.equal(page.totalCount, 3, 'totalCount ignores limit and offset')
      assert.deepEqual(page.data.map((u) => u.id), [alice!.id])

      const byEmail = await clerk.users.getUserList({ emailAddress: [carol!.primaryEmailAddress!.emailAddress.toUpperCase(), bob!.primaryEmailAddress!.emailAddress] })
      assert.equal(recorded('GET', '/v1/users').url.searchParams.getAll('email_address').length, 2)
      assert.equal(byEmail.totalCount, 2)
      assert.deepEqual(byEmail.data.map((u) => u.id), [bob!.id, carol!.id])

      const byQuery = await clerk.users.getUserList({ query: 'ALIC' })
      assert.equal(byQuery.totalCount, 1)
      assert.equal(byQuery.data[0]!.id, alice!.id)

      const byId = await clerk.users.getUserList({ userId: [carol!.id, alice!.id], orderBy: 'first_name' })
      assert.deepEqual(byId.data.map((u) => u.firstName), ['alice', 'carol'])
      assert.equal(byId.totalCount, 2)

      assert.equal(await clerk.users.getCount(), 3)
      assert.equal(await clerk.users.getCount({ query: 'bob' }), 1)
      assertMatchesSpec(spec.response('GetUsersCount', 200), recorded('GET', '/v1/users/count').body, 'GET /v1/users/count 200 body')
    })

    it('getUser returns the user; an unknown id throws 404 resource_not_found', async () => {
      const clerk = await newClerk()
      const created = await clerk.users.createUser({ emailAddress: [uniqueEmail('sdk.get')] })
      const user = await clerk.users.getUser(created.id)
      assertMatchesSpec(spec.response('GetUser', 200), recorded('GET', `/v1/users/${created.id}`).body, 'GET /v1/users/{id} 200 body')
      assert.deepEqual(user.raw, created.raw)

      const err = await sdkError(clerk.users.getUser('user_doesnotexist'))
      assertClerkError(err, recorded('GET', '/v1/users/user_doesnotexist'), { status: 404, code: 'resource_not_found', schema: spec.response('GetUser', 404) })
      const elsewhere = await sdkError((await newClerk()).users.getUser(created.id))
      assert.equal(elsewhere.status, 404)
    })

    it('deleteUser returns a DeletedObject and the user is gone', async () => {
      const clerk = await newClerk()
      const created = await clerk.users.createUser({ emailAddress: [uniqueEmail('sdk.delete')] })
      // This SDK version types deleteUser as answering a User; what it builds is a DeletedObject.
      const deleted = (await clerk.users.deleteUser(created.id)) as unknown as { id: string; object: string; deleted: boolean }
      const raw = recorded('DELETE', `/v1/users/${created.id}`)
      assertMatchesSpec(spec.response('DeleteUser', 200), raw.body, 'DELETE /v1/users/{id} 200 body')
      assert.equal(deleted.id, created.id)
      assert.equal(deleted.object, 'user')
      assert.equal(deleted.deleted, true)
      assert.equal(await clerk.users.getCount(), 0)
      const again = await sdkError(clerk.users.deleteUser(created.id))
      assertClerkError(again, recorded('DELETE', `/v1/users/${created.id}`), { status: 404, code: 'resource_not_found', schema: spec.response('DeleteUser', 404) })
    })
  })

  describe('waitlist entries', () => {
    it('create, list and invite round-trip through the SDK with spec-valid bodies', async () => {
      const clerk = await newClerk()
      const emailAddress = uniqueEmail('sdk.wait')
      const entry = await clerk.waitlistEntries.create({ emailAddress, notify: false })
      assertMatchesSpec(spec.response('CreateWaitlistEntry', 200), recorded('POST', '/v1/waitlist_entries').body, 'POST /v1/waitlist_entries 200 body')
      assert.match(entry.id, /^wle_/)
      assert.equal(entry.emailAddress, emailAddress)
      assert.equal(entry.status, 'pending')
      assert.equal(entry.isLocked, false)
      assert.equal(entry.invitation, null)
      t.clock.advance(1)
      const other = await clerk.waitlistEntries.create({ emailAddress: uniqueEmail('sdk.other') })

      const list = await clerk.waitlistEntries.list({ limit: 10, orderBy: '-created_at' })
      assertMatchesSpec(spec.response('ListWaitlistEntries', 200), recorded('GET', '/v1/waitlist_entries').body, 'GET /v1/waitlist_entries 200 body')
      assert.equal(list.totalCount, 2)
      assert.deepEqual(list.data.map((e) => e.id), [other.id, entry.id])
      const filtered = await clerk.waitlistEntries.list({ query: emailAddress, status: 'pending' })
      assert.deepEqual(filtered.data.map((e) => e.id), [entry.id])

      const invited = await clerk.waitlistEntries.invite(entry.id)
      assertMatchesSpec(spec.response('InviteWaitlistEntry', 200), recorded('POST', `/v1/waitlist_entries/${entry.id}/invite`).body, 'invite 200 body')
      assert.equal(invited.status, 'invited')
      assert.equal(invited.invitation?.emailAddress, emailAddress)
      assert.equal(invited.invitation?.status, 'pending')
      assert.ok(invited.invitation?.url?.startsWith(`${PUBLIC_URL}/v1/tickets/accept?ticket=`))

      const again = await sdkError(clerk.waitlistEntries.invite(entry.id, { ignoreExisting: true }))
      assertClerkError(again, recorded('POST', `/v1/waitlist_entries/${entry.id}/invite`), {
        status: 400, code: 'duplicate_record', schema: spec.response('InviteWaitlistEntry', 400),
      })
      const invitedList = await clerk.waitlistEntries.list({ status: 'invited' })
      assert.deepEqual(invitedList.data.map((e) => e.invitation?.id), [invited.invitation?.id])
    })
  })
})
