import { after, before, it } from 'node:test'
import assert from 'node:assert/strict'
import { buildTestApp, client, uniqueEmail, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { makeUser } from '../helpers/factories.js'
import { assertMatchesSpec, loadBapiSpec } from '../helpers/spec.js'
import { verifyPassword } from '../../src/users/passwords.js'

const spec = loadBapiSpec()

forEachDatabase('POST /v1/users', (engine) => {
  let t: TestApp
  before(async () => {
    t = await buildTestApp({ engine })
  })
  after(() => t.close())

  const fresh = async () => {
    const { instance, secretKey } = await t.newInstance()
    return { instance, api: client(t.app, secretKey) }
  }

  const assertParamError = (res: { status: number; body: any }, status: number, code: string, param: string) => {
    assert.equal(res.status, status, JSON.stringify(res.body))
    assert.equal(res.body.errors[0].code, code, JSON.stringify(res.body))
    assert.equal(res.body.errors[0].meta?.param_name, param, JSON.stringify(res.body))
    assert.ok(res.body.errors[0].long_message)
    assert.equal(typeof res.body.clerk_trace_id, 'string')
  }

  it('creates a user with one verified (admin) address, names and metadata, in Clerk\'s User shape', async () => {
    const { api } = await fresh()
    const email = uniqueEmail('Ada')
    const res = await api.post('/v1/users', {
      email_address: [email.toUpperCase()], first_name: 'Ada', last_name: 'Lovelace',
      public_metadata: { plan: 'pro' }, private_metadata: { crm: 42 }, unsafe_metadata: { theme: 'dark' },
    })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assertMatchesSpec(spec.response('CreateUser', 200), res.body, 'POST /v1/users 200 body')
    const user = res.body
    assert.match(user.id, /^user_/)
    assert.equal(user.object, 'user')
    assert.equal(user.first_name, 'Ada')
    assert.equal(user.last_name, 'Lovelace')
    assert.deepEqual(user.public_metadata, { plan: 'pro' })
    assert.deepEqual(user.private_metadata, { crm: 42 })
    assert.deepEqual(user.unsafe_metadata, { theme: 'dark' })
    assert.equal(user.password_enabled, false)
    assert.equal(user.last_sign_in_at, null)
    assert.equal(user.last_active_at, null)
    assert.equal(user.created_at, t.clock.now())
    assert.equal(user.updated_at, user.created_at)
    assert.equal(user.email_addresses.length, 1)
    const [address] = user.email_addresses
    assert.match(address.id, /^idn_/)
    assert.equal(user.primary_email_address_id, address.id)
    assert.equal(address.email_address, email.toLowerCase())
    assert.deepEqual(address.verification, { object: 'verification_admin', status: 'verified', strategy: 'admin', attempts: null, expire_at: null })
    assert.deepEqual(address.linked_to, [])
    assert.equal(address.reserved, false)
    for (const key of ['phone_numbers', 'web3_wallets', 'passkeys', 'external_accounts', 'saml_accounts', 'enterprise_accounts']) assert.deepEqual(user[key], [], key)
    for (const key of ['banned', 'locked', 'two_factor_enabled', 'totp_enabled', 'backup_code_enabled', 'has_image']) assert.equal(user[key], false, key)
  })

  it('hashes a password (password_enabled) and refuses one shorter than 8 characters', async () => {
    const { instance, api } = await fresh()
    const res = await api.post('/v1/users', { email_address: [uniqueEmail()], password: 'correct horse' })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal(res.body.password_enabled, true)
    const [row] = await t.db.query<{ password_hash: string }>('select password_hash from users where id = $1 and instance_id = $2', [res.body.id, instance.id])
    assert.ok(await verifyPassword('correct horse', row!.password_hash))
    assert.ok(!row!.password_hash.includes('correct horse'))

    assertParamError(await api.post('/v1/users', { email_address: [uniqueEmail()], password: 'short' }), 422, 'form_password_length_too_short', 'password')
    assertParamError(await api.post('/v1/users', { email_address: [uniqueEmail()], password: 'x'.repeat(257) }), 422, 'form_password_length_too_long', 'password')
    // null is "no password", as the spec makes it nullable.
    const none = await api.post('/v1/users', { email_address: [uniqueEmail()], password: null, skip_password_requirement: true })
    assert.equal(none.status, 200)
    assert.equal(none.body.password_enabled, false)
  })

  it('skip_password_checks lifts the minimum length, not the maximum, and never allows an empty password', async () => {
    const { api } = await fresh()
    const res = await api.post('/v1/users', { email_address: [uniqueEmail()], password: 'abc', skip_password_checks: true })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal(res.body.password_enabled, true)
    assertParamError(await api.post('/v1/users', { email_address: [uniqueEmail()], password: 'x'.repeat(257), skip_password_checks: true }), 422, 'form_password_length_too_long', 'password')
    assertParamError(await api.post('/v1/users', { email_address: [uniqueEmail()], password: '', skip_password_checks: true }), 422, 'form_password_length_too_short', 'password')
  })

  it('takes several addresses, all verified, the first primary and in the order given; refuses a repeated, taken or eleventh one, none, or a malformed one, naming email_address', async () => {
    const { api } = await fresh()
    const [first, second, third] = [uniqueEmail('first'), uniqueEmail('second'), uniqueEmail('third')]
    const made = await api.post('/v1/users', { email_address: [first, second.toUpperCase(), third] })
    assert.equal(made.status, 200, JSON.stringify(made.body))
    assert.deepEqual(made.body.email_addresses.map((e: any) => [e.email_address, e.verification.status, e.verification.strategy]),
      [[first, 'verified', 'admin'], [second, 'verified', 'admin'], [third, 'verified', 'admin']])
    assert.equal(made.body.primary_email_address_id, made.body.email_addresses[0].id)
    // Each address signs its user in, so each is taken now, whichever position it had.
    assertParamError(await api.post('/v1/users', { email_address: [uniqueEmail(), third] }), 422, 'form_identifier_exists', 'email_address')
    const repeated = uniqueEmail('twice')
    assertParamError(await api.post('/v1/users', { email_address: [repeated, repeated.toUpperCase()] }), 422, 'form_param_value_invalid', 'email_address')
    assertParamError(await api.post('/v1/users', { email_address: Array.from({ length: 11 }, () => uniqueEmail('many')) }), 422, 'form_param_value_invalid', 'email_address')
    assert.equal((await api.get(`/v1/users?email_address=${encodeURIComponent(repeated)}`)).body.length, 0, 'a refused create leaves nothing')
    assertParamError(await api.post('/v1/users', { email_address: [] }), 422, 'form_param_missing', 'email_address')
    assertParamError(await api.post('/v1/users', { first_name: 'No address' }), 422, 'form_param_missing', 'email_address')
    assertParamError(await api.post('/v1/users', { email_address: ['not-an-email'] }), 422, 'form_param_format_invalid', 'email_address')
    assertParamError(await api.post('/v1/users', { email_address: [42] }), 422, 'form_param_type_invalid', 'email_address')
  })

  it('takes email_address as a single string too, and form-encoded bodies', async () => {
    const { api } = await fresh()
    const single = await api.post('/v1/users', { email_address: uniqueEmail() })
    assert.equal(single.status, 200, JSON.stringify(single.body))
    const email = uniqueEmail('form')
    const form = await api.post('/v1/users',
      `email_address=${encodeURIComponent(email)}&first_name=Grace&public_metadata=${encodeURIComponent('{"team":"navy"}')}&skip_password_checks=true`,
      { 'content-type': 'application/x-www-form-urlencoded' })
    assert.equal(form.status, 200, JSON.stringify(form.body))
    assert.equal(form.body.email_addresses[0].email_address, email)
    assert.equal(form.body.first_name, 'Grace')
    assert.deepEqual(form.body.public_metadata, { team: 'navy' })
  })

  it('refuses an address a user already holds (any case) with 422 form_identifier_exists; another instance may use it', async () => {
    const { instance, api } = await fresh()
    const email = uniqueEmail('taken')
    assert.equal((await api.post('/v1/users', { email_address: [email] })).status, 200)
    assertParamError(await api.post('/v1/users', { email_address: [email.toUpperCase()] }), 422, 'form_identifier_exists', 'email_address')
    const signedUp = uniqueEmail('signed.up')
    await makeUser(t.db, instance.id, signedUp)
    assertParamError(await api.post('/v1/users', { email_address: [signedUp] }), 422, 'form_identifier_exists', 'email_address')

    const other = await fresh()
    assert.equal((await other.api.post('/v1/users', { email_address: [email] })).status, 200)
  })

  it('lets exactly one of several concurrent creates for one address win', async () => {
    const { instance, api } = await fresh()
    const email = uniqueEmail('race')
    const results = await Promise.all(Array.from({ length: 6 }, () => api.post('/v1/users', { email_address: [email] })))
    assert.deepEqual(results.map((r) => r.status).sort(), [200, 422, 422, 422, 422, 422])
    for (const r of results.filter((r) => r.status === 422)) assert.equal(r.body.errors[0].code, 'form_identifier_exists')
    const rows = await t.db.query('select id from email_addresses where instance_id = $1 and email_address = $2', [instance.id, email])
    assert.equal(rows.length, 1)
  })

  it('makes a later invitation for the address refuse it as taken', async () => {
    const { api } = await fresh()
    const email = uniqueEmail('then.invited')
    assert.equal((await api.post('/v1/users', { email_address: [email] })).status, 200)
    const inv = await api.post('/v1/invitations', { email_address: email, notify: false })
    assertParamError(inv, 400, 'form_identifier_exists', 'email_address')
  })

  it('refuses parameters Foyer has no use for, oversized metadata and bad text, naming them, never with a 500', async () => {
    const { api } = await fresh()
    assertParamError(await api.post('/v1/users', { email_address: [uniqueEmail()], username: 'ada' }), 422, 'form_param_unknown', 'username')
    assertParamError(await api.post('/v1/users', { email_address: [uniqueEmail()], private_metadata: { blob: 'x'.repeat(9000) } }), 422, 'form_param_max_length_exceeded', 'private_metadata')
    assertParamError(await api.post('/v1/users', { email_address: [uniqueEmail()], public_metadata: 'nope' }), 422, 'form_param_type_invalid', 'public_metadata')
    assertParamError(await api.post('/v1/users', { email_address: [uniqueEmail()], first_name: 'a\u0000b' }), 422, 'form_param_format_invalid', 'first_name')
    assertParamError(await api.post('/v1/users', { email_address: [uniqueEmail()], last_name: 'x'.repeat(257) }), 422, 'form_param_value_invalid', 'last_name')
    assertParamError(await api.post('/v1/users', { email_address: [uniqueEmail()], skip_password_checks: 'yes' }), 422, 'form_param_type_invalid', 'skip_password_checks')
    const notJson = await api.post('/v1/users', '{"email_address": [', { 'content-type': 'application/json' })
    assert.equal(notJson.status, 400)
  })

  it('queues user.created with the User object, in the same transaction as the user', async () => {
    const { instance, api } = await fresh()
    const res = await api.post('/v1/users', { email_address: [uniqueEmail('event')], first_name: 'Evie' })
    assert.equal(res.status, 200)
    const items = await t.db.query<{ kind: string; topic: string; subject_id: string; payload: any }>(
      'select kind, topic, subject_id, payload from outbox where instance_id = $1 and kind = $2', [instance.id, 'webhook'])
    assert.equal(items.length, 1)
    const [item] = items
    assert.equal(item!.topic, 'user.created')
    assert.equal(item!.subject_id, res.body.id)
    assert.deepEqual(item!.payload, { data: res.body, object: 'event', type: 'user.created', timestamp: res.body.created_at, instance_id: instance.id })

    // A refused create queues nothing.
    await api.post('/v1/users', { email_address: [res.body.email_addresses[0].email_address] })
    const after = await t.db.query('select id from outbox where instance_id = $1', [instance.id])
    assert.equal(after.length, 1)
  })
})
