import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { ClerkClient } from '@clerk/backend'
import { client, uniqueEmail, type TestApp, forEachSdkTarget, startSdkServer, type SdkServer } from '../helpers/build-app.js'
import { assertMatchesSpec, loadBapiSpec, webhookEventValidator } from '../helpers/spec.js'
import { startReceiver } from '../webhooks/receiver.js'
import { randomBytes } from 'node:crypto'
import { bcrypt } from 'hash-wasm'
import { verifyPassword } from '../../src/users/passwords.js'
import { assertClerkError, createClerkClient, exchanges, recordEachTest, recorded, sdkError } from './sdk-recorder.js'

const spec = loadBapiSpec()

type Json = Record<string, unknown>
/** [what, stored public_metadata, patch, expected public_metadata] */
const MERGES: [string, Json, Json, Json][] = [
  ['adds a key', { a: 1 }, { b: 2 }, { a: 1, b: 2 }],
  ['nested objects merge', { prefs: { theme: 'dark', lang: 'en' } }, { prefs: { lang: 'fr' } }, { prefs: { theme: 'dark', lang: 'fr' } }],
  ['deeply nested objects merge', { a: { b: { c: 1, d: 2 } } }, { a: { b: { d: 3, e: 4 } } }, { a: { b: { c: 1, d: 3, e: 4 } } }],
  ['null removes a key', { a: 1, b: 2 }, { a: null }, { b: 2 }],
  ['null removes a nested key', { a: { b: 1, c: 2 } }, { a: { b: null } }, { a: { c: 2 } }],
  ['null for a missing key is a no-op', { a: 1 }, { z: null }, { a: 1 }],
  ['arrays replace', { tags: [1, 2, 3] }, { tags: [4] }, { tags: [4] }],
  ['scalars replace objects', { a: { b: 1 } }, { a: 'flat' }, { a: 'flat' }],
  ['objects replace scalars', { a: 'flat' }, { a: { b: 1 } }, { a: { b: 1 } }],
  ['an array replaces an object', { a: { b: 1 } }, { a: [1] }, { a: [1] }],
  ['an empty patch changes nothing', { a: 1 }, {}, { a: 1 }],
  ['false and 0 are values, not removals', { a: 1, b: 2 }, { a: false, b: 0 }, { a: false, b: 0 }],
]

forEachSdkTarget('@clerk/backend updateUser and updateUserMetadata', (target) => {
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

  describe('updateUserMetadata', () => {
    for (const [what, stored, patch, expected] of MERGES) {
      it(`merges: ${what}`, async () => {
        const { clerk } = await newClerk()
        const user = await clerk.users.createUser({ emailAddress: [uniqueEmail('merge')], publicMetadata: stored, privateMetadata: { keep: true } })
        const updated = await clerk.users.updateUserMetadata(user.id, { publicMetadata: patch })
        const raw = recorded('PATCH', `/v1/users/${user.id}/metadata`)
        assert.equal(raw.status, 200)
        assertMatchesSpec(spec.response('UpdateUserMetadata', 200), raw.body, 'PATCH metadata 200 body')
        assert.deepEqual(updated.publicMetadata, expected)
        assert.deepEqual(updated.privateMetadata, { keep: true }, 'a metadata object left out is left alone')
        assert.deepEqual((await clerk.users.getUser(user.id)).publicMetadata, expected)
      })
    }

    it('applies concurrent merges one after the other: both land', async () => {
      const { clerk } = await newClerk()
      const user = await clerk.users.createUser({ emailAddress: [uniqueEmail('race')], publicMetadata: { base: 0 } })
      const keys = Array.from({ length: 6 }, (_, i) => `k${i}`)
      await Promise.all(keys.map((k) => clerk.users.updateUserMetadata(user.id, { publicMetadata: { [k]: true, nested: { [k]: 1 } } })))
      const after = (await clerk.users.getUser(user.id)).publicMetadata as Json
      assert.deepEqual(Object.keys(after).sort(), ['base', 'nested', ...keys].sort())
      assert.deepEqual(Object.keys(after.nested as Json).sort(), keys)
    })

    it('merges private and unsafe metadata the same way, each independently', async () => {
      const { clerk } = await newClerk()
      const user = await clerk.users.createUser({ emailAddress: [uniqueEmail('merge3')], publicMetadata: { p: 1 }, privateMetadata: { q: { r: 1 } }, unsafeMetadata: { u: 1 } })
      const updated = await clerk.users.updateUserMetadata(user.id, { privateMetadata: { q: { s: 2 } }, unsafeMetadata: { u: null, v: 2 } as any })
      assert.deepEqual(updated.publicMetadata, { p: 1 })
      assert.deepEqual(updated.privateMetadata, { q: { r: 1, s: 2 } })
      assert.deepEqual(updated.unsafeMetadata, { v: 2 })
    })

    it('refuses a merged result over the size limit with 422 naming the object, and stores nothing', async () => {
      const { clerk } = await newClerk()
      const half = 'x'.repeat(5000)
      const user = await clerk.users.createUser({ emailAddress: [uniqueEmail('big')], privateMetadata: { a: half } })
      // Each part is under the limit; only the merge is over it.
      const err = await sdkError(clerk.users.updateUserMetadata(user.id, { privateMetadata: { b: half } }))
      assertClerkError(err, recorded('PATCH', `/v1/users/${user.id}/metadata`), {
        status: 422, code: 'form_param_max_length_exceeded', paramName: 'private_metadata', schema: spec.response('UpdateUserMetadata', 422),
      })
      assert.deepEqual((await clerk.users.getUser(user.id)).privateMetadata, { a: half })
      // Removing the first key makes room.
      const ok = await clerk.users.updateUserMetadata(user.id, { privateMetadata: { a: null, b: half } as any })
      assert.deepEqual(ok.privateMetadata, { b: half })
    })

    it('refuses a merge nested too deeply with 422 naming the key', async () => {
      const { clerk } = await newClerk()
      let deep: Json = { leaf: 1 }
      for (let i = 0; i < 40; i++) deep = { n: deep }
      const user = await clerk.users.createUser({ emailAddress: [uniqueEmail('deep')] })
      const err = await sdkError(clerk.users.updateUserMetadata(user.id, { publicMetadata: deep }))
      assertClerkError(err, recorded('PATCH', `/v1/users/${user.id}/metadata`), {
        status: 422, code: 'form_param_value_invalid', schema: spec.response('UpdateUserMetadata', 422),
      })
      assert.match(String(err.errors[0]?.meta?.paramName), /^public_metadata\.n/)
    })

    it('refuses an unknown parameter, and a metadata value that is not an object', async () => {
      const { clerk } = await newClerk()
      const user = await clerk.users.createUser({ emailAddress: [uniqueEmail('unknown')] })
      const unknown = await sdkError(clerk.users.updateUserMetadata(user.id, { firstName: 'x' } as any))
      assertClerkError(unknown, recorded('PATCH', `/v1/users/${user.id}/metadata`), {
        status: 422, code: 'form_param_unknown', paramName: 'first_name', schema: spec.response('UpdateUserMetadata', 422),
      })
      const notObject = await sdkError(clerk.users.updateUserMetadata(user.id, { publicMetadata: [1] as any }))
      assert.equal(notObject.status, 422)
      assert.equal(notObject.errors[0]?.meta?.paramName, 'public_metadata')
    })

    it('answers 404 for an unknown user and for another instance\'s user, which stays unchanged', async () => {
      const { clerk } = await newClerk()
      const user = await clerk.users.createUser({ emailAddress: [uniqueEmail('mine')], publicMetadata: { a: 1 } })
      const missing = await sdkError(clerk.users.updateUserMetadata('user_doesnotexist', { publicMetadata: { a: 2 } }))
      assertClerkError(missing, recorded('PATCH', '/v1/users/user_doesnotexist/metadata'), {
        status: 404, code: 'resource_not_found', schema: spec.response('UpdateUserMetadata', 404),
      })
      const other = (await newClerk()).clerk
      assert.equal((await sdkError(other.users.updateUserMetadata(user.id, { publicMetadata: { a: 2 } }))).status, 404)
      assert.equal((await sdkError(other.users.updateUser(user.id, { firstName: 'Mallory' }))).status, 404)
      const after = await clerk.users.getUser(user.id)
      assert.deepEqual(after.publicMetadata, { a: 1 })
      assert.equal(after.firstName, null)
    })
  })

  describe('updateUser', () => {
    it('changes names, password and external_id, leaving the rest as it was', async () => {
      const { clerk } = await newClerk()
      const user = await clerk.users.createUser({ emailAddress: [uniqueEmail('upd')], firstName: 'Old', lastName: 'Name', publicMetadata: { a: 1 } })
      assert.equal(user.passwordEnabled, false)
      assert.equal(user.externalId, null)
      t.clock.advance(1000)
      const updated = await clerk.users.updateUser(user.id, { firstName: 'New', password: 'a brand new password', externalId: 'crm-42' })
      const raw = recorded('PATCH', `/v1/users/${user.id}`)
      assert.equal(raw.status, 200)
      assertMatchesSpec(spec.response('UpdateUser', 200), raw.body, 'PATCH /v1/users/{id} 200 body')
      assert.equal(updated.firstName, 'New')
      assert.equal(updated.lastName, 'Name')
      assert.equal(updated.passwordEnabled, true)
      assert.equal(updated.externalId, 'crm-42')
      assert.deepEqual(updated.publicMetadata, { a: 1 })
      assert.equal(updated.updatedAt, user.updatedAt + 1000)
      assert.deepEqual((await clerk.users.getUser(user.id)).raw, updated.raw)
      const [row] = await t.db.query<{ password_hash: string }>('select password_hash from users where id = $1', [user.id])
      assert.equal(await verifyPassword('a brand new password', row!.password_hash), true)

      const [times] = await t.db.query<{ password_updated_at: string | number }>('select password_updated_at from users where id = $1', [user.id])
      assert.equal(Number(times!.password_updated_at), updated.updatedAt)
      // A null password is no change (Clerk removes passwords through its own route).
      assert.equal((await clerk.users.updateUser(user.id, { password: null as any })).passwordEnabled, true)

      const cleared = await clerk.users.updateUser(user.id, { lastName: null as any, externalId: '' })
      assert.equal(cleared.lastName, null)
      assert.equal(cleared.externalId, null)
    })

    it('password: too short is 422 unless skip_password_checks; too long always', async () => {
      const { clerk } = await newClerk()
      const user = await clerk.users.createUser({ emailAddress: [uniqueEmail('pw')] })
      const short = await sdkError(clerk.users.updateUser(user.id, { password: 'short' }))
      assertClerkError(short, recorded('PATCH', `/v1/users/${user.id}`), {
        status: 422, code: 'form_password_length_too_short', paramName: 'password', schema: spec.response('UpdateUser', 422),
      })
      assert.equal((await clerk.users.getUser(user.id)).passwordEnabled, false)
      const skipped = await clerk.users.updateUser(user.id, { password: 'short', skipPasswordChecks: true })
      assert.equal(skipped.passwordEnabled, true)
      const [row] = await t.db.query<{ password_hash: string }>('select password_hash from users where id = $1', [user.id])
      assert.equal(await verifyPassword('short', row!.password_hash), true)
      const long = await sdkError(clerk.users.updateUser(user.id, { password: 'x'.repeat(300), skipPasswordChecks: true }))
      assert.equal(long.errors[0]?.code, 'form_password_length_too_long')
    })

    it('external_id is unique per instance: 422 form_identifier_exists naming it; another instance may reuse it', async () => {
      const { clerk } = await newClerk()
      const a = await clerk.users.createUser({ emailAddress: [uniqueEmail('ext.a')] })
      const b = await clerk.users.createUser({ emailAddress: [uniqueEmail('ext.b')] })
      await clerk.users.updateUser(a.id, { externalId: 'shared-id' })
      const taken = await sdkError(clerk.users.updateUser(b.id, { externalId: 'shared-id', firstName: 'B' }))
      assertClerkError(taken, recorded('PATCH', `/v1/users/${b.id}`), {
        status: 422, code: 'form_identifier_exists', paramName: 'external_id', schema: spec.response('UpdateUser', 422),
      })
      assert.equal((await clerk.users.getUser(b.id)).firstName, null, 'nothing of a refused update is stored')
      // Setting a user's own external_id again is no conflict.
      assert.equal((await clerk.users.updateUser(a.id, { externalId: 'shared-id' })).externalId, 'shared-id')
      const other = (await newClerk()).clerk
      const c = await other.users.createUser({ emailAddress: [uniqueEmail('ext.c')] })
      assert.equal((await other.users.updateUser(c.id, { externalId: 'shared-id' })).externalId, 'shared-id')
    })

    it('primary_email_address_id must be one of the user\'s verified addresses', async () => {
      const { clerk } = await newClerk()
      const a = await clerk.users.createUser({ emailAddress: [uniqueEmail('prim.a')] })
      const b = await clerk.users.createUser({ emailAddress: [uniqueEmail('prim.b')] })
      const same = await clerk.users.updateUser(a.id, { primaryEmailAddressID: a.primaryEmailAddressId! })
      assert.equal(same.primaryEmailAddressId, a.primaryEmailAddressId)
      const foreign = await sdkError(clerk.users.updateUser(a.id, { primaryEmailAddressID: b.primaryEmailAddressId! }))
      assertClerkError(foreign, recorded('PATCH', `/v1/users/${a.id}`), {
        status: 422, code: 'form_param_value_invalid', paramName: 'primary_email_address_id', schema: spec.response('UpdateUser', 422),
      })
      const unknown = await sdkError(clerk.users.updateUser(a.id, { primaryEmailAddressID: 'idn_nope' }))
      assert.equal(unknown.errors[0]?.meta?.paramName, 'primary_email_address_id')
      // An unverified address of the user's own (a sign-up in progress leaves one) is refused too.
      await t.db.query('update email_addresses set verified_at = null where id = $1', [a.primaryEmailAddressId])
      const unverified = await sdkError(clerk.users.updateUser(a.id, { primaryEmailAddressID: a.primaryEmailAddressId! }))
      assert.equal(unverified.errors[0]?.meta?.paramName, 'primary_email_address_id')
      assert.match(unverified.errors[0]!.longMessage!, /verified/)
    })

    it('metadata given to updateUser replaces the stored object', async () => {
      const { secretKey } = await newClerk()
      const api = client(t.app, secretKey)
      const created = await api.post('/v1/users', { email_address: [uniqueEmail('repl')], public_metadata: { a: { b: 1 } }, private_metadata: { keep: 1 } })
      const res = await api.patch(`/v1/users/${created.body.id}`, { public_metadata: { a: { c: 2 } } })
      assert.equal(res.status, 200)
      assertMatchesSpec(spec.response('UpdateUser', 200), res.body, 'PATCH /v1/users/{id} 200 body')
      assert.deepEqual(res.body.public_metadata, { a: { c: 2 } })
      assert.deepEqual(res.body.private_metadata, { keep: 1 })
      const big = await api.patch(`/v1/users/${created.body.id}`, { unsafe_metadata: { x: 'y'.repeat(9000) } })
      assert.equal(big.status, 422)
      assert.equal(big.body.errors[0].meta.param_name, 'unsafe_metadata')
    })

    it('names unsupported spec parameters and unknown ones with 422 form_param_unknown', async () => {
      const { clerk } = await newClerk()
      const user = await clerk.users.createUser({ emailAddress: [uniqueEmail('unsup')] })
      for (const [params, name] of [[{ username: 'neo' }, 'username'], [{ totpSecret: 'abc' }, 'totp_secret'], [{ createdAt: new Date() }, 'created_at'], [{ locale: 'fr-FR' }, 'locale'], [{ shoeSize: 44 }, 'shoe_size']] as const) {
        const err = await sdkError(clerk.users.updateUser(user.id, params as any))
        assertClerkError(err, recorded('PATCH', `/v1/users/${user.id}`), {
          status: 422, code: 'form_param_unknown', paramName: name, schema: spec.response('UpdateUser', 422),
        })
      }
      const wrongType = await sdkError(clerk.users.updateUser(user.id, { firstName: 7 } as any))
      assert.equal(wrongType.status, 422)
      assert.equal(wrongType.errors[0]?.meta?.paramName, 'first_name')
    })
  })

  describe('createUser with external_id and a password digest', () => {
    it('stores external_id (unique per instance) and an imported bcrypt digest', async () => {
      const { clerk } = await newClerk()
      const digest = await bcrypt({ password: 'the old password', salt: randomBytes(16), costFactor: 4, outputType: 'encoded' })
      const user = await clerk.users.createUser({ emailAddress: [uniqueEmail('imp')], externalId: 'legacy-7', passwordDigest: digest, passwordHasher: 'bcrypt' })
      const raw = recorded('POST', '/v1/users')
      assertMatchesSpec(spec.response('CreateUser', 200), raw.body, 'POST /v1/users 200 body')
      assert.equal(user.externalId, 'legacy-7')
      assert.equal(user.passwordEnabled, true)
      const [row] = await t.db.query<{ password_hash: string }>('select password_hash from users where id = $1', [user.id])
      assert.equal(await verifyPassword('the old password', row!.password_hash), true)
      assert.equal(await verifyPassword('another password', row!.password_hash), false)

      const taken = await sdkError(clerk.users.createUser({ emailAddress: [uniqueEmail('imp2')], externalId: 'legacy-7' }))
      assertClerkError(taken, recorded('POST', '/v1/users'), {
        status: 422, code: 'form_identifier_exists', paramName: 'external_id', schema: spec.response('CreateUser', 422),
      })
      const hasher = await sdkError(clerk.users.createUser({ emailAddress: [uniqueEmail('imp3')], passwordDigest: digest, passwordHasher: 'md5' }))
      assertClerkError(hasher, recorded('POST', '/v1/users'), {
        status: 422, code: 'form_param_value_invalid', paramName: 'password_hasher', schema: spec.response('CreateUser', 422),
      })
      const malformed = await sdkError(clerk.users.createUser({ emailAddress: [uniqueEmail('imp4')], passwordDigest: 'nope', passwordHasher: 'argon2id' }))
      assertClerkError(malformed, recorded('POST', '/v1/users'), {
        status: 422, code: 'form_param_format_invalid', paramName: 'password_digest', schema: spec.response('CreateUser', 422),
      })
      assert.equal(await clerk.users.getCount(), 1)
    })
  })

  describe('user.updated webhooks', () => {
    it('are sent, svix-signed and in the spec\'s shape, for both routes, with the User after the change', async (ctx) => {
      const { clerk, secretKey, instanceId } = await newClerk()
      const api = client(t.app, secretKey)
      let secret = ''
      const receiver = await startReceiver(() => secret)
      ctx.after(receiver.close)
      const endpoint = await api.post('/v1/webhooks/endpoints', { url: receiver.url, event_types: ['user.updated'] })
      assert.equal(endpoint.status, 200)
      secret = endpoint.body.secret

      const user = await clerk.users.createUser({ emailAddress: [uniqueEmail('hook.upd')] })
      t.clock.advance(1000)
      const renamed = await clerk.users.updateUser(user.id, { firstName: 'Renamed' })
      t.clock.advance(1000)
      const merged = await clerk.users.updateUserMetadata(user.id, { publicMetadata: { plan: 'pro' } })
      assert.ok(merged.updatedAt > renamed.updatedAt)
      // A refused update sends nothing.
      await sdkError(clerk.users.updateUser(user.id, { password: 'short' }))
      await t.outboxWorker.drain()
      await t.outboxWorker.drain()

      assert.equal(receiver.received.length, 2, 'user.created is not sent to an endpoint for user.updated only')
      const events = receiver.received.map((r) => {
        assert.ok(r.verified.ok, `svix verification failed: ${JSON.stringify(r.verified)}`)
        return r.verified.event
      }).sort((a, b) => a.timestamp - b.timestamp)
      for (const e of events) assertMatchesSpec(webhookEventValidator('user.updated'), e, 'user.updated payload')
      assert.deepEqual(events[0], { data: renamed.raw, object: 'event', type: 'user.updated', timestamp: renamed.updatedAt, instance_id: instanceId })
      assert.deepEqual(events[1], { data: merged.raw, object: 'event', type: 'user.updated', timestamp: merged.updatedAt, instance_id: instanceId })
    })
  })
})
