/**
 * Session tokens as an Express application built on Clerk's own `@clerk/express` sees them:
 * `Authorization: Bearer <jwt>` on the app's `GET /me`, verified by the SDK against Foyer's
 * JWKS (CLERK_API_URL). Foyer runs in this process on a real port, so the tests can move its
 * clock and sign with its keys; the app is a process of its own.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHmac, generateKeyPairSync, sign, type KeyObject } from 'node:crypto'
import { buildTestApp, client, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { refusal } from '../helpers/jwt.js'
import { makeInvitation } from '../helpers/factories.js'
import { SIGNED_OUT, startClerkApp, whoAmI, type ClerkApp } from '../helpers/clerk-app.js'
import { fapi, ticketOf, type Fapi } from '../frontend/fapi-client.js'
import type { Instance } from '../../src/instance/instance.schemas.js'

const { verifyToken } = await import('@clerk/backend')

const PASSWORD = 'correct horse battery'

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
const decode = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString()) as Record<string, unknown>
const partsOf = (jwt: string) => {
  const [header, payload] = jwt.split('.')
  return { header: decode(header!), payload: decode(payload!) }
}
/** An RS256 JWT of `header` and `payload`, signed with `key`. */
const signRs256 = (header: object, payload: object, key: KeyObject) => {
  const input = `${b64url(header)}.${b64url(payload)}`
  return `${input}.${sign('sha256', Buffer.from(input), key).toString('base64url')}`
}
const bearer = (jwt: string) => ({ authorization: `Bearer ${jwt}` })

forEachDatabase('session tokens as Bearer tokens through @clerk/express', (engine) => {
  let t: TestApp
  let f: Fapi
  let apiUrl: string
  let a: { instance: Instance; secretKey: string }
  let app: ClerkApp

  before(async () => {
    t = await buildTestApp({ engine })
    f = fapi(t.app)
    apiUrl = await t.app.listen({ port: 0, host: '127.0.0.1' })
    a = await t.newInstance('App A')
    // Foyer over plain http: the SDK reaches it only through the proxy URL, never the key's host.
    app = await startClerkApp({ secretKey: a.secretKey, publishableKey: a.instance.publishableKey, apiUrl, proxyUrl: apiUrl })
  })
  after(async () => {
    await app?.stop()
    await t?.close()
  })

  /** A person signed up on `secretKey`'s instance with an invitation's ticket: their user and session. */
  async function signedUp(secretKey: string) {
    const invitation = await makeInvitation(client(t.app, secretKey))
    const res = await f.post('/v1/client/sign_ups', { strategy: 'ticket', ticket: ticketOf(invitation), password: PASSWORD })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    return { userId: res.body.response.created_user_id as string, sessionId: res.body.response.created_session_id as string }
  }

  async function mint(secretKey: string, sessionId: string): Promise<string> {
    const res = await client(t.app, secretKey).post(`/v1/sessions/${sessionId}/tokens`, {})
    assert.equal(res.status, 200, JSON.stringify(res.body))
    return res.body.jwt as string
  }

  describe('Authorization: Bearer on GET /me', () => {
    // @see issue 13
    it('a token from POST /v1/sessions/{id}/tokens signs its user and session in; no token is signed out', async () => {
      const { userId, sessionId } = await signedUp(a.secretKey)
      const jwt = await mint(a.secretKey, sessionId)
      assert.deepEqual(await whoAmI(app, bearer(jwt)), { ...SIGNED_OUT, userId, sessionId })
      assert.deepEqual(await whoAmI(app), SIGNED_OUT)
    })

    // @see issue 13
    it('refuses a token signed with another RSA key under the instance\'s kid', async () => {
      const { sessionId } = await signedUp(a.secretKey)
      const { header, payload } = partsOf(await mint(a.secretKey, sessionId))
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 0x10001 })
      assert.deepEqual(await whoAmI(app, bearer(signRs256(header, payload, privateKey))), SIGNED_OUT)
    })

    // @see issue 13
    it('refuses an expired token', async () => {
      const { sessionId } = await signedUp(a.secretKey)
      // The app reads the wall clock; Foyer's is moved 2 minutes back, so the token it mints
      // is 60 s past its exp, beyond the 5 s of skew the SDK allows.
      t.clock.advance(-120_000)
      let expired: string
      try {
        expired = await mint(a.secretKey, sessionId)
      } finally {
        t.clock.advance(120_000)
      }
      assert.ok((partsOf(expired).payload.exp as number) * 1000 < Date.now() - 30_000)
      assert.deepEqual(await whoAmI(app, bearer(expired)), SIGNED_OUT)
    })

    // @see issue 13
    it('refuses a token of another instance; verifyToken with the first instance\'s jwtKey refuses it too', async () => {
      const b = await t.newInstance('App B')
      const { sessionId } = await signedUp(b.secretKey)
      const foreign = await mint(b.secretKey, sessionId)
      assert.deepEqual(await whoAmI(app, bearer(foreign)), SIGNED_OUT)

      const jwtKey = (await t.services.signingKeys.current(a.instance)).publicKeyPem
      assert.equal((await refusal(verifyToken(foreign, { jwtKey }))).reason, 'token-invalid-signature')
      const own = await mint(a.secretKey, (await signedUp(a.secretKey)).sessionId)
      assert.ok((await verifyToken(own, { jwtKey })).sub)
    })

    // @see issue 13
    it('refuses a token whose alg was swapped: HS256 keyed with the public key\'s PEM, and none', async () => {
      const { sessionId } = await signedUp(a.secretKey)
      const { header, payload } = partsOf(await mint(a.secretKey, sessionId))
      const pem = (await t.services.signingKeys.current(a.instance)).publicKeyPem

      const hsInput = `${b64url({ ...header, alg: 'HS256' })}.${b64url(payload)}`
      const hs256 = `${hsInput}.${createHmac('sha256', pem).update(hsInput).digest('base64url')}`
      assert.deepEqual(await whoAmI(app, bearer(hs256)), SIGNED_OUT)

      const none = `${b64url({ ...header, alg: 'none' })}.${b64url(payload)}.`
      assert.deepEqual(await whoAmI(app, bearer(none)), SIGNED_OUT)
    })

    // @see issue 13
    it('refuses a token signed with the instance\'s own key under a kid the JWKS does not list', async () => {
      const { userId, sessionId } = await signedUp(a.secretKey)
      const { header, payload } = partsOf(await mint(a.secretKey, sessionId))
      const { kid, privateKey } = await t.services.signingKeys.signingKey(a.instance)
      assert.equal(header.kid, kid)
      // Re-signed under the right kid, the token still signs in: the kid alone is what differs below.
      assert.deepEqual(await whoAmI(app, bearer(signRs256(header, payload, privateKey))), { ...SIGNED_OUT, userId, sessionId })
      assert.deepEqual(await whoAmI(app, bearer(signRs256({ ...header, kid: 'jwk_unknown0000000000000000000' }, payload, privateKey))), SIGNED_OUT)
    })
  })
})
