import { after, before, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHmac, createPublicKey, sign, type KeyObject } from 'node:crypto'
import { verifyToken } from '@clerk/backend'
import { PUBLIC_URL, buildTestApp, client, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { assertMatchesFapi, assertMatchesSpec, loadBapiSpec } from '../helpers/spec.js'
import { openDb } from '../../src/platform/db/db.js'
import { createSigningKeyStore } from '../../src/sessions/signing-keys.store.js'
import { createInstanceStore } from '../../src/instance/instance.store.js'
import { createSigningKeyService, CURRENT_KEY_CACHE_MS, RETIRED_KEY_PUBLISHED_MS } from '../../src/sessions/signing-keys.service.js'

const spec = loadBapiSpec()
const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')

/** A session token as Clerk mints them (60 s, nbf 10 s back), signed here with node:crypto. */
function sessionToken(privateKey: KeyObject, kid: string, overrides: { header?: object; sub?: string } = {}) {
  const iat = Math.floor(Date.now() / 1000)
  const header = { alg: 'RS256', kid, typ: 'JWT', ...overrides.header }
  const claims = { sub: overrides.sub ?? 'user_signed_in', sid: 'sess_signed_in', iat, nbf: iat - 10, exp: iat + 60, iss: PUBLIC_URL, sts: 'active' }
  const input = `${b64(header)}.${b64(claims)}`
  return `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`
}

const refusal = async (token: string, options: Parameters<typeof verifyToken>[1]) => {
  try {
    await verifyToken(token, options)
  } catch (err) {
    return (err as { reason?: string }).reason ?? String(err)
  }
  return assert.fail('the token was accepted')
}

forEachDatabase('signing keys and the JWKS', (engine) => {
  let t: TestApp
  let apiUrl: string
  const logLines: string[] = []

  before(async () => {
    t = await buildTestApp({ engine, logLines })
    apiUrl = await t.app.listen({ port: 0, host: '127.0.0.1' })
  })
  after(() => t.close())

  const newApi = async () => {
    const made = await t.newInstance()
    return { ...made, api: client(t.app, made.secretKey) }
  }

  // @see issue 13
  it('GET /v1/jwks and the Frontend API\'s /.well-known/jwks.json answer the reference JWKS: one RS256 key, RSA-2048, e = 65537', async () => {
    const { api, instance } = await newApi()
    const res = await api.get('/v1/jwks')
    assert.equal(res.status, 200)
    assert.equal(res.headers['content-type'], 'application/json')
    assertMatchesSpec(spec.response('GetJWKS', 200), res.body, 'GET /v1/jwks 200 body')
    assert.equal(res.body.keys.length, 1)
    const [key] = res.body.keys
    assert.deepEqual(Object.keys(key).sort(), ['alg', 'e', 'kid', 'kty', 'n', 'use'])
    assert.equal(key.kty, 'RSA')
    assert.equal(key.alg, 'RS256')
    assert.equal(key.use, 'sig')
    assert.equal(key.e, 'AQAB')
    assert.match(key.kid, /^jwk_[0-9A-Za-z]{27}$/)
    assert.equal(createPublicKey({ key, format: 'jwk' }).asymmetricKeyDetails?.modulusLength, 2048)
    assert.equal((await api.get('/v1/jwks')).body.keys[0].kid, key.kid, 'made once, then kept')

    const fapi = await t.app.inject({ method: 'GET', url: `/.well-known/jwks.json?instance=${instance.id}` })
    assert.equal(fapi.statusCode, 200)
    assert.equal(fapi.headers['content-type'], 'application/json')
    assert.equal(fapi.headers['cache-control'], 'public, max-age=60')
    assert.deepEqual(JSON.parse(fapi.body), res.body)
    assertMatchesFapi('JWKS', JSON.parse(fapi.body))

    assert.equal((await t.app.inject({ method: 'GET', url: '/v1/jwks' })).statusCode, 401)
    assert.equal((await client(t.app, 'sk_test_nobody').get('/v1/jwks')).status, 401)
    for (const named of ['ins_2b6NfrkHKSU6mSYx2FwX4AtzeFi', 'not-an-id']) {
      assert.equal((await t.app.inject({ method: 'GET', url: `/.well-known/jwks.json?instance=${named}` })).statusCode, 404, named)
    }
    // No default instance in this database yet: nothing to answer for.
    assert.equal((await t.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).statusCode, 404)
  })

  // @see issue 13
  it('the Frontend API\'s JWKS without ?instance= is the default instance\'s', async () => {
    const { instance, secretKey } = await t.services.instances.create({ name: 'Default', isDefault: true })
    const fapi = await t.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })
    assert.equal(fapi.statusCode, 200)
    assert.deepEqual(JSON.parse(fapi.body), (await client(t.app, secretKey).get('/v1/jwks')).body)
    assert.equal(JSON.parse(fapi.body).keys[0].kid, (await t.services.signingKeys.current(instance)).kid)
  })

  // @see issue 13
  it('@clerk/backend verifyToken accepts a token signed with the instance\'s key, through GET /v1/jwks and through jwtKey', async () => {
    const { api, instance, secretKey } = await newApi()
    const { kid, privateKey } = await t.services.signingKeys.signingKey(instance)
    const pem = (await api.get('/v1/instance')).body.jwt_public_key
    assert.equal(pem, (await t.services.signingKeys.current(instance)).publicKeyPem)
    const token = sessionToken(privateKey, kid)
    const viaJwks = await verifyToken(token, { secretKey, apiUrl })
    assert.equal(viaJwks.sub, 'user_signed_in')
    assert.equal(viaJwks.sid, 'sess_signed_in')
    const viaPem = await verifyToken(token, { jwtKey: pem })
    assert.equal(viaPem.sub, 'user_signed_in')
  })

  // @see issue 13
  it('verifyToken refuses another instance\'s token (kid mismatch through the JWKS, bad signature with the PEM) and alg-swapped tokens', async () => {
    const mine = await newApi()
    const theirs = await newApi()
    const myJwks = (await mine.api.get('/v1/jwks')).body
    const theirKey = await t.services.signingKeys.signingKey(theirs.instance)
    assert.ok(!myJwks.keys.some((k: { kid: string }) => k.kid === theirKey.kid), 'another instance\'s key is not in this JWKS')
    const pem = (await mine.api.get('/v1/instance')).body.jwt_public_key
    const foreign = sessionToken(theirKey.privateKey, theirKey.kid)
    assert.equal((await verifyToken(foreign, { secretKey: theirs.secretKey, apiUrl })).sub, 'user_signed_in', 'valid for its own instance')
    assert.equal(await refusal(foreign, { secretKey: mine.secretKey, apiUrl, skipJwksCache: true }), 'jwk-kid-mismatch')
    assert.equal(await refusal(foreign, { jwtKey: pem }), 'token-invalid-signature')
    // Their key under my kid: the kid matches, the signature does not.
    const myKid = myJwks.keys[0].kid
    assert.equal(await refusal(sessionToken(theirKey.privateKey, myKid), { secretKey: mine.secretKey, apiUrl, skipJwksCache: true }), 'token-invalid-signature')

    const iat = Math.floor(Date.now() / 1000)
    const claims = b64({ sub: 'user_forged', sid: 'sess_forged', iat, nbf: iat - 10, exp: iat + 60, iss: PUBLIC_URL, sts: 'active' })
    const none = `${b64({ alg: 'none', kid: myKid, typ: 'JWT' })}.${claims}.`
    const hsInput = `${b64({ alg: 'HS256', kid: myKid, typ: 'JWT' })}.${claims}`
    // The classic confusion: the public PEM used as an HMAC secret.
    const hs256 = `${hsInput}.${createHmac('sha256', pem).update(hsInput).digest('base64url')}`
    for (const token of [none, hs256]) {
      assert.equal(await refusal(token, { secretKey: mine.secretKey, apiUrl, skipJwksCache: true }), 'token-invalid-algorithm')
      assert.equal(await refusal(token, { jwtKey: pem }), 'token-invalid-algorithm')
    }
  })

  // @see issue 13
  it('POST /v1/jwks/rotate: the new key first and the old one beside it for 10 minutes (server clock), so its tokens keep verifying', async () => {
    const { api, instance, secretKey } = await newApi()
    const old = await t.services.signingKeys.signingKey(instance)
    const oldPem = (await api.get('/v1/instance')).body.jwt_public_key
    const oldToken = sessionToken(old.privateKey, old.kid)
    assert.equal((await verifyToken(oldToken, { secretKey, apiUrl })).sub, 'user_signed_in')

    const rotated = await api.post('/v1/jwks/rotate')
    assert.equal(rotated.status, 200)
    assertMatchesSpec(spec.response('GetJWKS', 200), rotated.body, 'POST /v1/jwks/rotate 200 body')
    const kids = rotated.body.keys.map((k: { kid: string }) => k.kid)
    assert.equal(kids.length, 2)
    assert.equal(kids[1], old.kid)
    const fresh = await t.services.signingKeys.signingKey(instance)
    assert.equal(kids[0], fresh.kid)
    assert.notEqual(fresh.kid, old.kid)
    assert.deepEqual((await api.get('/v1/jwks')).body, rotated.body)

    const newPem = (await api.get('/v1/instance')).body.jwt_public_key
    assert.notEqual(newPem, oldPem)
    assert.equal(newPem, (await t.services.signingKeys.current(instance)).publicKeyPem)
    const newToken = sessionToken(fresh.privateKey, fresh.kid, { sub: 'user_after' })
    assert.equal((await verifyToken(newToken, { secretKey, apiUrl, skipJwksCache: true })).sub, 'user_after')
    assert.equal((await verifyToken(newToken, { jwtKey: newPem })).sub, 'user_after')
    assert.equal((await verifyToken(oldToken, { secretKey, apiUrl, skipJwksCache: true })).sub, 'user_signed_in', 'the old key is still published')
    assert.equal(await refusal(oldToken, { jwtKey: newPem }), 'token-invalid-signature')

    // The instance's own test clock moves invitations, not keys.
    await api.post('/v1/testing/clock', { advance_ms: 24 * 60 * 60 * 1000 })
    assert.deepEqual((await api.get('/v1/jwks')).body.keys.map((k: { kid: string }) => k.kid), kids)
    t.clock.advance(RETIRED_KEY_PUBLISHED_MS - 1)
    assert.deepEqual((await api.get('/v1/jwks')).body.keys.map((k: { kid: string }) => k.kid), kids)
    t.clock.advance(1)
    assert.deepEqual((await api.get('/v1/jwks')).body.keys.map((k: { kid: string }) => k.kid), [fresh.kid])
    const fapi = JSON.parse((await t.app.inject({ method: 'GET', url: `/.well-known/jwks.json?instance=${instance.id}` })).body)
    assert.deepEqual(fapi.keys.map((k: { kid: string }) => k.kid), [fresh.kid])
    // The SDK adds the keys it fetches to a per-apiUrl cache and drops none for 5 minutes, so a
    // fresh cache (another spelling of the same apiUrl) shows what an application starting now sees.
    assert.equal(await refusal(oldToken, { secretKey, apiUrl: `${apiUrl}/`, skipJwksCache: true }), 'jwk-kid-mismatch')
    assert.equal((await verifyToken(newToken, { secretKey, apiUrl, skipJwksCache: true })).sub, 'user_after')
  })

  // @see issue 13
  it('concurrent first uses of an instance\'s key, from two processes, settle on exactly one key', async () => {
    const { instance } = await newApi()
    // A second process: its own service, and on PostgreSQL its own pool of connections.
    const otherDb = t.databaseUrl ? await openDb({ databaseUrl: t.databaseUrl, dataDir: null }) : t.db
    try {
      const other = createSigningKeyService({ db: otherDb, clock: t.clock, store: createSigningKeyStore(), instances: createInstanceStore(), serverSecret: t.serverSecret })
      const services = [t.services.signingKeys, other]
      const kids = await Promise.all(Array.from({ length: 8 }, (_, i) => i < 4
        ? services[i % 2]!.current(instance).then((k) => k.kid)
        : services[i % 2]!.signingKey(instance).then((k) => k.kid)))
      assert.equal(new Set(kids).size, 1, kids.join(' '))
      const rows = await t.db.query<{ id: string }>('select id from signing_keys where instance_id = $1', [instance.id])
      assert.deepEqual(rows.map((r) => r.id), [kids[0]])
    } finally {
      if (otherDb !== t.db) await otherDb.close()
    }
  })

  // @see issue 13
  it('a rotation by another process signs here within CURRENT_KEY_CACHE_MS (server clock), and what the old key signed meanwhile verifies', async () => {
    const { instance, secretKey } = await newApi()
    const old = await t.services.signingKeys.signingKey(instance)
    const otherDb = t.databaseUrl ? await openDb({ databaseUrl: t.databaseUrl, dataDir: null }) : t.db
    try {
      const other = createSigningKeyService({ db: otherDb, clock: t.clock, store: createSigningKeyStore(), instances: createInstanceStore(), serverSecret: t.serverSecret })
      const rotated = await other.rotate(instance)
      assert.notEqual(rotated.kid, old.kid)
      // Read a moment ago here: still the key this process signs with, and still published.
      t.clock.advance(CURRENT_KEY_CACHE_MS - 1)
      const stale = await t.services.signingKeys.signingKey(instance)
      assert.equal(stale.kid, old.kid)
      assert.equal((await verifyToken(sessionToken(stale.privateKey, stale.kid), { secretKey, apiUrl, skipJwksCache: true })).sub, 'user_signed_in')
      t.clock.advance(1)
      assert.equal((await t.services.signingKeys.signingKey(instance)).kid, rotated.kid)
    } finally {
      if (otherDb !== t.db) await otherDb.close()
    }
  })

  // @see issue 13
  it('the private key is stored only sealed, appears in no answer and no log line', async () => {
    const { api, instance, secretKey } = await newApi()
    const answers = [
      (await api.get('/v1/jwks')).body, (await api.get('/v1/instance')).body, (await api.post('/v1/jwks/rotate')).body,
      JSON.parse((await t.app.inject({ method: 'GET', url: `/.well-known/jwks.json?instance=${instance.id}` })).body),
    ].map((body) => JSON.stringify(body))
    const { privateKey } = await t.services.signingKeys.signingKey(instance)
    const jwk = privateKey.export({ format: 'jwk' })
    const pkcs8 = (privateKey.export({ type: 'pkcs8', format: 'der' }) as Buffer).toString('base64')
    // Distinctive pieces of the private key in each encoding: the private exponent and a prime.
    const secrets = [jwk.d!, jwk.p!, pkcs8.slice(200, 260)]
    await verifyToken(sessionToken(privateKey, (await t.services.signingKeys.current(instance)).kid), { secretKey, apiUrl, skipJwksCache: true })

    const rows = await t.db.query<Record<string, unknown>>('select * from signing_keys where instance_id = $1', [instance.id])
    assert.equal(rows.length, 2)
    for (const row of rows) {
      const text = JSON.stringify(row)
      assert.match(String(row.sealed_private_key), /^v1\./)
      assert.ok(!text.includes('PRIVATE KEY'), 'no PEM private key in clear')
      for (const piece of secrets) assert.ok(!text.includes(piece))
    }
    for (const text of [...answers, ...logLines]) {
      assert.ok(!text.includes('PRIVATE KEY'))
      for (const piece of secrets) assert.ok(!text.includes(piece))
    }
    assert.ok(logLines.some((l) => l.includes('/v1/jwks/rotate')), 'the requests were logged')
  })

  // @see issue 13
  it('a key that can no longer be unsealed (FOYER_SECRET changed) is replaced, and stays published for the tokens it signed', async () => {
    const { api, instance, secretKey } = await newApi()
    const before = await t.services.signingKeys.current(instance)
    await t.db.query('update signing_keys set sealed_private_key = $2 where id = $1', [before.kid, 'v1.AAAA.AAAA.AAAA'])
    const after = await t.services.signingKeys.signingKey(instance)
    assert.notEqual(after.kid, before.kid)
    assert.deepEqual((await api.get('/v1/jwks')).body.keys.map((k: { kid: string }) => k.kid), [after.kid, before.kid])
    assert.equal((await verifyToken(sessionToken(after.privateKey, after.kid), { secretKey, apiUrl, skipJwksCache: true })).sub, 'user_signed_in')
  })
})
