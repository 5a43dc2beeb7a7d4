import { after, before, it } from 'node:test'
import assert from 'node:assert/strict'
import { buildTestApp, client, uniqueEmail, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { assertMatchesSpec, loadBapiSpec } from '../helpers/spec.js'
import { newId } from '../../src/platform/ids.js'
import { createUserStore } from '../../src/users/users.store.js'

const spec = loadBapiSpec()
const DAY_MS = 24 * 60 * 60 * 1000

forEachDatabase('GET /v1/users/{user_id}', (engine) => {
  let t: TestApp
  before(async () => {
    t = await buildTestApp({ engine })
  })
  after(() => t.close())

  const fresh = async () => {
    const { instance, secretKey } = await t.newInstance()
    return { instance, api: client(t.app, secretKey) }
  }

  /** A user as a sign-up makes one: its address proved by `verification` (null: not yet). */
  const signedUp = async (instanceId: string, verification: 'ticket' | 'email_code' | null) => {
    const now = t.clock.now()
    const id = newId('user', now)
    await createUserStore().insert(t.db, { id, instanceId, emailId: newId('idn', now), emailAddress: uniqueEmail(), verification, now, lastSignInAt: now })
    return id
  }

  it('answers the user as POST created it, valid against the spec', async () => {
    const { api } = await fresh()
    const created = await api.post('/v1/users', { email_address: [uniqueEmail()], first_name: 'Get', password: 'long enough' })
    const res = await api.get(`/v1/users/${created.body.id}`)
    assert.equal(res.status, 200)
    assertMatchesSpec(spec.response('GetUser', 200), res.body, 'GET /v1/users/{id} 200 body')
    assert.deepEqual(res.body, created.body)
  })

  it('maps how each address was proved to Clerk\'s verification objects', async () => {
    const { instance, api } = await fresh()
    const expectations = [
      ['ticket', { object: 'verification_ticket', status: 'verified', strategy: 'ticket', attempts: null, expire_at: null }],
      ['email_code', { object: 'verification_otp', status: 'verified', strategy: 'email_code', attempts: null, expire_at: null }],
      [null, null],
    ] as const
    for (const [strategy, expected] of expectations) {
      const id = await signedUp(instance.id, strategy)
      const res = await api.get(`/v1/users/${id}`)
      assert.equal(res.status, 200)
      assertMatchesSpec(spec.response('GetUser', 200), res.body, `user verified by ${strategy}`)
      assert.deepEqual(res.body.email_addresses[0].verification, expected)
      assert.equal(res.body.last_sign_in_at, t.clock.now())
    }
    // An address whose code was sent but not yet typed back.
    const pending = await signedUp(instance.id, 'email_code')
    await t.db.query('update email_addresses set verified_at = null where user_id = $1', [pending])
    const res = await api.get(`/v1/users/${pending}`)
    assertMatchesSpec(spec.response('GetUser', 200), res.body, 'unverified address')
    assert.equal(res.body.email_addresses[0].verification.status, 'unverified')
  })

  it('shows the latest session activity, to the day, as last_active_at', async () => {
    const { instance, api } = await fresh()
    const id = await signedUp(instance.id, 'ticket')
    const day = Math.floor(t.clock.now() / DAY_MS) * DAY_MS
    for (const [n, at] of [[1, day + 5_000], [2, day + 3 * DAY_MS + 7_000]] as const) {
      await t.db.query(`insert into sessions (id, instance_id, user_id, token_hash, expires_at, last_active_at, created_at, updated_at)
        values ($1, $2, $3, $4, $5, $6, $6, $6)`, [`sess_${n}_${id}`, instance.id, id, `hash-${n}-${id}`, at + DAY_MS, at])
    }
    const res = await api.get(`/v1/users/${id}`)
    assert.equal(res.body.last_active_at, day + 3 * DAY_MS)
    const listed = await api.get(`/v1/users?user_id=${id}`)
    assert.equal(listed.body[0].last_active_at, day + 3 * DAY_MS)
  })

  it('answers 404 resource_not_found for an unknown id, another instance\'s user, or an absurd id', async () => {
    const { api } = await fresh()
    const other = await fresh()
    const theirs = await other.api.post('/v1/users', { email_address: [uniqueEmail()] })
    for (const id of ['user_nope', theirs.body.id, 'x'.repeat(300), '%E2%82%AC']) {
      const res = await api.get(`/v1/users/${id}`)
      assert.equal(res.status, 404, id)
      assert.equal(res.body.errors[0].code, 'resource_not_found')
    }
    assertMatchesSpec(spec.response('GetUser', 404), (await api.get('/v1/users/user_nope')).body, 'GET /v1/users/{id} 404 body')
  })
})
