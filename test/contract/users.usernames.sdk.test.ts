import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { ClerkClient } from '@clerk/backend'
import { client, uniqueEmail, type TestApp, forEachSdkTarget, startSdkServer, type SdkServer } from '../helpers/build-app.js'
import { assertMatchesSpec, loadBapiSpec } from '../helpers/spec.js'
import { assertClerkError, createClerkClient, recordEachTest, recorded, sdkError } from './sdk-recorder.js'

const spec = loadBapiSpec()

forEachSdkTarget('@clerk/backend users with usernames', (target) => {
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

  /** An instance, with usernames as given (off by default, as in a new instance). */
  const newClerk = async (username?: { enabled?: boolean; required?: boolean }): Promise<{ clerk: ClerkClient; secretKey: string; instanceId: string }> => {
    const { secretKey, instance } = await t.newInstance()
    if (username) assert.equal((await client(t.app, secretKey).patch('/v1/instance', { username })).status, 200)
    return { clerk: createClerkClient({ secretKey, apiUrl, telemetry: { disabled: true } }), secretKey, instanceId: instance.id }
  }
  const unique = (prefix: string) => `${prefix}_${Math.random().toString(36).slice(2, 10)}`

  describe('createUser, updateUser and getUserList where usernames are enabled', () => {
    it('creates a user with a username, stored lower-cased, shown on the User and found by the username filter and query', async () => {
      const { clerk } = await newClerk({ enabled: true })
      const name = unique('Ada-Lovelace')
      const user = await clerk.users.createUser({ emailAddress: [uniqueEmail('uname')], username: name })
      const raw = recorded('POST', '/v1/users')
      assert.equal(raw.status, 200)
      assertMatchesSpec(spec.response('CreateUser', 200), raw.body, 'POST /v1/users 200 body')
      assert.equal(user.username, name.toLowerCase())
      assert.equal((await clerk.users.getUser(user.id)).username, name.toLowerCase())
      const other = await clerk.users.createUser({ emailAddress: [uniqueEmail('plain')] })
      assert.equal(other.username, null, 'a username stays optional unless required')

      const byName = await clerk.users.getUserList({ username: [name.toUpperCase(), 'nobody_here'] })
      assertMatchesSpec(spec.response('GetUserList', 200), recorded('GET', '/v1/users').body, 'GET /v1/users 200 body')
      assert.deepEqual(byName.data.map((u) => u.id), [user.id])
      assert.equal(byName.totalCount, 1)
      assert.deepEqual((await clerk.users.getUserList({ query: name.slice(4, 12).toUpperCase() })).data.map((u) => u.id), [user.id])
      assert.equal(await clerk.users.getCount({ username: [name] }), 1)
    })

    it('changes and removes a username with updateUser, and user.updated carries it', async () => {
      const { clerk, instanceId } = await newClerk({ enabled: true })
      const user = await clerk.users.createUser({ emailAddress: [uniqueEmail('rename')], username: unique('first') })
      const next = unique('Second')
      const renamed = await clerk.users.updateUser(user.id, { username: next })
      assertMatchesSpec(spec.response('UpdateUser', 200), recorded('PATCH', `/v1/users/${user.id}`).body, 'PATCH /v1/users 200 body')
      assert.equal(renamed.username, next.toLowerCase())
      t.clock.advance(1000)
      // Clerk removes a username given null or "".
      assert.equal((await clerk.users.updateUser(user.id, { username: '' })).username, null)
      t.clock.advance(1000)
      assert.equal((await clerk.users.updateUser(user.id, { username: next })).username, next.toLowerCase())
      t.clock.advance(1000)
      assert.equal((await clerk.users.updateUser(user.id, { firstName: 'Kept' })).username, next.toLowerCase(), 'left out, it is kept')

      const events = await t.db.query<{ payload: { data: { username: string | null } } }>(
        `select payload from outbox where instance_id = $1 and topic = 'user.updated' order by (payload->>'timestamp')::bigint`, [instanceId])
      assert.deepEqual(events.map((e) => e.payload.data.username), [next.toLowerCase(), null, next.toLowerCase(), next.toLowerCase()])
    })

    it('refuses a username another user of the instance has, whatever its case, with 422 form_identifier_exists naming username', async () => {
      const { clerk } = await newClerk({ enabled: true })
      const name = unique('taken')
      const holder = await clerk.users.createUser({ emailAddress: [uniqueEmail('holder')], username: name })
      const created = await sdkError(clerk.users.createUser({ emailAddress: [uniqueEmail('second')], username: name.toUpperCase() }))
      assertClerkError(created, recorded('POST', '/v1/users'), { status: 422, code: 'form_identifier_exists', paramName: 'username', schema: spec.response('CreateUser', 422) })
      const other = await clerk.users.createUser({ emailAddress: [uniqueEmail('other')] })
      const updated = await sdkError(clerk.users.updateUser(other.id, { username: ` ${name.toUpperCase()} ` }))
      assertClerkError(updated, recorded('PATCH', `/v1/users/${other.id}`), { status: 422, code: 'form_identifier_exists', paramName: 'username', schema: spec.response('UpdateUser', 422) })
      assert.equal((await clerk.users.getUser(other.id)).username, null)
      // The holder may give their own username again.
      assert.equal((await clerk.users.updateUser(holder.id, { username: name.toUpperCase() })).username, name)
    })

    it('lets another instance use the same username', async () => {
      const name = unique('shared')
      const a = await newClerk({ enabled: true })
      const b = await newClerk({ enabled: true })
      const inA = await a.clerk.users.createUser({ emailAddress: [uniqueEmail('a')], username: name })
      const inB = await b.clerk.users.createUser({ emailAddress: [uniqueEmail('b')], username: name })
      assert.equal(inA.username, inB.username)
      assert.deepEqual((await b.clerk.users.getUserList({ username: [name] })).data.map((u) => u.id), [inB.id])
    })

    it('refuses usernames outside Clerk\'s rules with Clerk\'s codes naming username', async () => {
      const { clerk } = await newClerk({ enabled: true })
      const cases: [string, string][] = [
        ['abc', 'form_username_invalid_length'],
        ['a'.repeat(65), 'form_username_invalid_length'],
        ['has space', 'form_username_invalid_character'],
        ['name@example.com', 'form_username_invalid_character'],
        ['dotted.name', 'form_username_invalid_character'],
        ['12345678', 'form_username_needs_non_number_char'],
      ]
      for (const [username, code] of cases) {
        const err = await sdkError(clerk.users.createUser({ emailAddress: [uniqueEmail('bad')], username }))
        assertClerkError(err, recorded('POST', '/v1/users'), { status: 422, code, paramName: 'username', schema: spec.response('CreateUser', 422) })
      }
      assert.equal((await clerk.users.createUser({ emailAddress: [uniqueEmail('ok')], username: 'a_b-1' })).username, 'a_b-1')
    })

    it('requires a username on createUser where the instance requires one (422 form_param_missing)', async () => {
      const { clerk } = await newClerk({ required: true })
      const err = await sdkError(clerk.users.createUser({ emailAddress: [uniqueEmail('req')] }))
      assertClerkError(err, recorded('POST', '/v1/users'), { status: 422, code: 'form_param_missing', paramName: 'username', schema: spec.response('CreateUser', 422) })
      assert.ok((await clerk.users.createUser({ emailAddress: [uniqueEmail('req')], username: unique('needed') })).username)
    })
  })

  describe('where usernames are off (the default)', () => {
    it('refuses a username on createUser and updateUser with 422 form_param_unknown naming it; every User shows null', async () => {
      const { clerk } = await newClerk()
      const created = await sdkError(clerk.users.createUser({ emailAddress: [uniqueEmail('off')], username: 'someone' }))
      assertClerkError(created, recorded('POST', '/v1/users'), { status: 422, code: 'form_param_unknown', paramName: 'username', schema: spec.response('CreateUser', 422) })
      const user = await clerk.users.createUser({ emailAddress: [uniqueEmail('off')] })
      assert.equal(user.username, null)
      const updated = await sdkError(clerk.users.updateUser(user.id, { username: 'someone' }))
      assertClerkError(updated, recorded('PATCH', `/v1/users/${user.id}`), { status: 422, code: 'form_param_unknown', paramName: 'username', schema: spec.response('UpdateUser', 422) })
      assert.deepEqual((await clerk.users.getUserList({ username: ['someone'] })).data, [])
    })

    it('turning usernames off keeps existing ones on the User, but no longer takes new ones', async () => {
      const { clerk, secretKey } = await newClerk({ enabled: true })
      const user = await clerk.users.createUser({ emailAddress: [uniqueEmail('kept')], username: unique('kept') })
      assert.equal((await client(t.app, secretKey).patch('/v1/instance', { username: { enabled: false } })).status, 200)
      assert.equal((await clerk.users.getUser(user.id)).username, user.username)
      assert.equal((await sdkError(clerk.users.updateUser(user.id, { username: unique('new') }))).errors[0]?.code, 'form_param_unknown')
    })
  })
})
