import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { ClerkClient } from '@clerk/backend'
import { client, uniqueEmail, type TestApp, forEachSdkTarget, startSdkServer, type SdkServer } from '../helpers/build-app.js'
import { assertMatchesSpec, loadBapiSpec, webhookEventValidator } from '../helpers/spec.js'
import { assertClerkError, createClerkClient, exchanges, recordEachTest, recorded, sdkError } from './sdk-recorder.js'

const spec = loadBapiSpec()

forEachSdkTarget('@clerk/backend email addresses', (target) => {
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

  const newClerk = async (): Promise<{ clerk: ClerkClient; secretKey: string; instanceId: string }> => {
    const { secretKey, instance } = await t.newInstance()
    return { clerk: createClerkClient({ secretKey, apiUrl, telemetry: { disabled: true } }), secretKey, instanceId: instance.id }
  }

  describe('emailAddresses', () => {
    it('createEmailAddress adds a second address; the User lists both in creation order with their verifications', async () => {
      const { clerk } = await newClerk()
      const first = uniqueEmail('ea.first')
      const user = await clerk.users.createUser({ emailAddress: [first] })
      const second = uniqueEmail('ea.second')
      // Addresses are listed in creation order: let time tell them apart.
      t.clock.advance(1000)
      const added = await clerk.emailAddresses.createEmailAddress({ userId: user.id, emailAddress: second.toUpperCase(), verified: true })
      const raw = recorded('POST', '/v1/email_addresses')
      assert.equal(raw.status, 200)
      assertMatchesSpec(spec.response('CreateEmailAddress', 200), raw.body, 'POST /v1/email_addresses 200 body')
      assert.match(added.id, /^idn_/)
      assert.equal(added.emailAddress, second)
      assert.equal(added.verification?.status, 'verified')
      assert.equal(added.verification?.strategy, 'admin')

      t.clock.advance(1000)
      const unverified = await clerk.emailAddresses.createEmailAddress({ userId: user.id, emailAddress: uniqueEmail('ea.third') })
      assert.equal(unverified.verification, null)

      const fetched = await clerk.users.getUser(user.id)
      assertMatchesSpec(spec.response('GetUser', 200), recorded('GET', `/v1/users/${user.id}`).body, 'GET /v1/users/{id} 200 body')
      assert.deepEqual(fetched.emailAddresses.map((e) => e.id), [user.primaryEmailAddressId, added.id, unverified.id])
      assert.equal(fetched.primaryEmailAddressId, user.primaryEmailAddressId)

      const got = await clerk.emailAddresses.getEmailAddress(added.id)
      assertMatchesSpec(spec.response('GetEmailAddress', 200), recorded('GET', `/v1/email_addresses/${added.id}`).body, 'GET 200 body')
      assert.equal(got.id, added.id)
      assert.equal(got.emailAddress, second)

      // GET /v1/users?email_address= finds the user by any of its addresses.
      const found = await clerk.users.getUserList({ emailAddress: [second] })
      assert.deepEqual(found.data.map((u) => u.id), [user.id])
    })

    it('an address another user holds verified, in any case, is refused with 422 form_identifier_exists; a concurrent verified pair has one winner', async () => {
      const { clerk } = await newClerk()
      const taken = uniqueEmail('ea.taken')
      await clerk.users.createUser({ emailAddress: [taken] })
      const other = await clerk.users.createUser({ emailAddress: [uniqueEmail('ea.other')] })
      const err = await sdkError(clerk.emailAddresses.createEmailAddress({ userId: other.id, emailAddress: taken.toUpperCase() }))
      assertClerkError(err, recorded('POST', '/v1/email_addresses'), {
        status: 422, code: 'form_identifier_exists', paramName: 'email_address', schema: spec.response('CreateEmailAddress', 422),
      })

      const contested = uniqueEmail('ea.race')
      const third = await clerk.users.createUser({ emailAddress: [uniqueEmail('ea.third')] })
      // Unverified, an address reserves nothing (both may hold it); verified, it is one user's.
      const results = await Promise.allSettled([
        clerk.emailAddresses.createEmailAddress({ userId: other.id, emailAddress: contested, verified: true }),
        clerk.emailAddresses.createEmailAddress({ userId: third.id, emailAddress: contested, verified: true }),
      ])
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1)
      const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult
      assert.equal(lost.reason.errors[0].code, 'form_identifier_exists')
      const holders = await clerk.users.getUserList({ emailAddress: [contested] })
      assert.equal(holders.totalCount, 1)
    })

    it('updateEmailAddress makes an address primary (moving primary_email_address_id) and unverifies or verifies it', async () => {
      const { clerk } = await newClerk()
      const user = await clerk.users.createUser({ emailAddress: [uniqueEmail('ea.p1')] })
      const added = await clerk.emailAddresses.createEmailAddress({ userId: user.id, emailAddress: uniqueEmail('ea.p2') })
      const verified = await clerk.emailAddresses.updateEmailAddress(added.id, { verified: true, primary: true })
      assertMatchesSpec(spec.response('UpdateEmailAddress', 200), recorded('PATCH', `/v1/email_addresses/${added.id}`).body, 'PATCH 200 body')
      assert.equal(verified.verification?.status, 'verified')
      const after = await clerk.users.getUser(user.id)
      assert.equal(after.primaryEmailAddressId, added.id)
      assert.ok(after.updatedAt >= user.updatedAt)

      t.clock.advance(1000)
      const unverified = await clerk.emailAddresses.updateEmailAddress(user.primaryEmailAddressId!, { verified: false })
      assert.equal(unverified.verification, null)
      assert.equal((await clerk.users.getUser(user.id)).primaryEmailAddressId, added.id)
    })

    it('deleteEmailAddress answers a DeletedObject; the primary one is refused while others exist, naming it', async () => {
      const { clerk } = await newClerk()
      const user = await clerk.users.createUser({ emailAddress: [uniqueEmail('ea.d1')] })
      const added = await clerk.emailAddresses.createEmailAddress({ userId: user.id, emailAddress: uniqueEmail('ea.d2'), verified: true })
      const primaryId = user.primaryEmailAddressId!

      const refused = await sdkError(clerk.emailAddresses.deleteEmailAddress(primaryId))
      assertClerkError(refused, recorded('DELETE', `/v1/email_addresses/${primaryId}`), {
        status: 409, code: 'primary_email_address_deletion_forbidden', paramName: 'email_address_id', schema: spec.response('DeleteEmailAddress', 409),
      })

      const deleted = await clerk.emailAddresses.deleteEmailAddress(added.id)
      const raw = recorded('DELETE', `/v1/email_addresses/${added.id}`)
      assertMatchesSpec(spec.response('DeleteEmailAddress', 200), raw.body, 'DELETE 200 body')
      assert.deepEqual(raw.body, { object: 'email_address', id: added.id, deleted: true })
      assert.equal(deleted.id, added.id)
      assert.deepEqual((await clerk.users.getUser(user.id)).emailAddresses.map((e) => e.id), [primaryId])

      const gone = await sdkError(clerk.emailAddresses.getEmailAddress(added.id))
      assertClerkError(gone, recorded('GET', `/v1/email_addresses/${added.id}`), { status: 404, code: 'resource_not_found', schema: spec.response('GetEmailAddress', 404) })

      // The last address, primary or not, can go.
      await clerk.emailAddresses.deleteEmailAddress(primaryId)
      const bare = await clerk.users.getUser(user.id)
      assert.equal(bare.primaryEmailAddressId, null)
      assert.deepEqual(bare.emailAddresses, [])
    })

    it('another instance\'s key sees, changes and deletes none of its addresses (404), and cannot add one to its user', async () => {
      const { clerk } = await newClerk()
      const { clerk: stranger } = await newClerk()
      const user = await clerk.users.createUser({ emailAddress: [uniqueEmail('ea.mine')] })
      const id = user.primaryEmailAddressId!
      for (const call of [
        () => stranger.emailAddresses.getEmailAddress(id),
        () => stranger.emailAddresses.updateEmailAddress(id, { verified: false }),
        () => stranger.emailAddresses.deleteEmailAddress(id),
        () => stranger.emailAddresses.createEmailAddress({ userId: user.id, emailAddress: uniqueEmail('ea.intruder') }),
      ]) {
        const err = await sdkError(call())
        assert.equal(err.status, 404)
        assert.equal(err.errors[0]?.code, 'resource_not_found')
      }
      const still = await clerk.users.getUser(user.id)
      assert.deepEqual(still.emailAddresses.map((e) => [e.id, e.verification?.status]), [[id, 'verified']])
    })

    it('unknown and ill-typed parameters answer 422 naming them', async () => {
      const { secretKey } = await newClerk()
      const api = client(t.app, secretKey)
      const user = await api.post('/v1/users', { email_address: [uniqueEmail('ea.params')] })
      const unknown = await api.post('/v1/email_addresses', { user_id: user.body.id, email_address: uniqueEmail(), colour: 'red' })
      assert.equal(unknown.status, 422)
      assert.equal(unknown.body.errors[0].code, 'form_param_unknown')
      assert.equal(unknown.body.errors[0].meta.param_name, 'colour')
      const missing = await api.post('/v1/email_addresses', { user_id: user.body.id })
      assert.equal(missing.status, 422)
      assert.equal(missing.body.errors[0].meta.param_name, 'email_address')
      const invalid = await api.post('/v1/email_addresses', { user_id: user.body.id, email_address: 'not an address' })
      assert.equal(invalid.status, 422)
      assert.equal(invalid.body.errors[0].meta.param_name, 'email_address')
    })

    it('each change queues user.updated with the User as it now is', async () => {
      const { clerk, instanceId } = await newClerk()
      const user = await clerk.users.createUser({ emailAddress: [uniqueEmail('ea.hook')] })
      t.clock.advance(1000)
      const added = await clerk.emailAddresses.createEmailAddress({ userId: user.id, emailAddress: uniqueEmail('ea.hook2'), verified: true })
      t.clock.advance(1000)
      await clerk.emailAddresses.updateEmailAddress(added.id, { primary: true })
      t.clock.advance(1000)
      await clerk.emailAddresses.updateEmailAddress(added.id, { primary: true })
      t.clock.advance(1000)
      await clerk.emailAddresses.deleteEmailAddress(user.primaryEmailAddressId!)
      const rows = await t.db.query<{ payload: any }>(
        `select payload from outbox where instance_id = $1 and kind = 'webhook' and topic = 'user.updated' order by created_at, id`, [instanceId])
      // A change that changes nothing queues nothing.
      assert.equal(rows.length, 3)
      for (const { payload } of rows) assertMatchesSpec(webhookEventValidator('user.updated'), payload, 'user.updated payload')
      assert.deepEqual(rows.map((r) => r.payload.data.email_addresses.length), [2, 2, 1])
      assert.deepEqual(rows.map((r) => r.payload.data.primary_email_address_id), [user.primaryEmailAddressId, added.id, added.id])
      assert.equal(rows[2]!.payload.data.id, user.id)
    })
  })
})
