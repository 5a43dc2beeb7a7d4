import { after, before, beforeEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { ClerkClient } from '@clerk/backend'
import { signedUp as signUpWithTicket } from './signed-up.js'
import { buildTestApp, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { claimsOf, refusal } from '../helpers/jwt.js'
import { assertMatchesSpec, loadBapiSpec } from '../helpers/spec.js'
import { fapi, type Fapi } from '../frontend/fapi-client.js'
import { createClerkClient, exchanges, recorded, sdkError } from '../contract/sdk-recorder.js'

// Imported after the recorder, which must patch fetch before @clerk/backend loads.
const { verifyToken } = await import('@clerk/backend')

const spec = loadBapiSpec()

forEachDatabase('Sessions API through @clerk/backend', (engine) => {
  let t: TestApp
  let f: Fapi
  let apiUrl: string

  before(async () => {
    t = await buildTestApp({ engine })
    f = fapi(t.app)
    apiUrl = await t.app.listen({ port: 0, host: '127.0.0.1' })
  })
  after(() => t.close())
  beforeEach(() => {
    exchanges.length = 0
  })

  /** A person signed up with a ticket, and their application's client of @clerk/backend. */
  async function signedUp() {
    const person = await signUpWithTicket(t)
    const clerk: ClerkClient = createClerkClient({ secretKey: person.secretKey, apiUrl, telemetry: { disabled: true } })
    return { ...person, clerk }
  }

  describe('GET /v1/sessions, GET /v1/sessions/{id}', () => {
    // @see issue 13
    it('lists and gets the session a ticket sign-up started, in Clerk\'s shapes', async () => {
      const { clerk, userId, sessionId, clientId } = await signedUp()
      const list = await clerk.sessions.getSessionList({ userId })
      const raw = recorded('GET', '/v1/sessions')
      assert.equal(raw.status, 200)
      assert.equal(raw.body.total_count, 1)
      for (const s of raw.body.data) assertMatchesSpec(spec.component('Session'), s, 'GET /v1/sessions item')
      assert.equal(list.totalCount, 1)
      assert.equal(list.data[0]!.id, sessionId)

      const session = await clerk.sessions.getSession(sessionId)
      const one = recorded('GET', `/v1/sessions/${sessionId}`)
      assertMatchesSpec(spec.response('GetSession', 200), one.body, 'GET /v1/sessions/{id} 200 body')
      assert.equal(session.userId, userId)
      assert.equal(session.status, 'active')
      assert.equal(session.clientId, clientId)

      assert.equal((await clerk.sessions.getSessionList({ userId, status: 'revoked' })).totalCount, 0)
      assert.equal((await clerk.sessions.getSessionList({ clientId })).data[0]?.id, sessionId)
    })

    // @see issue 13
    it('answers 404 for another instance\'s session, everywhere', async () => {
      const { sessionId, userId } = await signedUp()
      const other = await signedUp()
      for (const [call, method, path] of [
        [() => other.clerk.sessions.getSession(sessionId), 'GET', `/v1/sessions/${sessionId}`],
        [() => other.clerk.sessions.revokeSession(sessionId), 'POST', `/v1/sessions/${sessionId}/revoke`],
        [() => other.clerk.sessions.getToken(sessionId), 'POST', `/v1/sessions/${sessionId}/tokens`],
      ] as const) {
        const err = await sdkError(call())
        assert.equal(err.status, 404)
        assert.equal(err.errors[0]?.code, 'resource_not_found')
        assertMatchesSpec(spec.response('GetSession', 404), recorded(method, path).body, `${method} ${path} 404 body`)
      }
      assert.equal((await other.clerk.sessions.getSessionList({ userId })).totalCount, 0)
    })
  })

  describe('POST /v1/sessions/{id}/tokens', () => {
    // @see issue 13
    it('mints a token that verifyToken accepts with the JWKS and with the PEM, for that user and session', async () => {
      const { instance, secretKey, clerk, userId, sessionId } = await signedUp()
      const token = await clerk.sessions.getToken(sessionId)
      const raw = recorded('POST', `/v1/sessions/${sessionId}/tokens`)
      assertMatchesSpec(spec.response('CreateSessionToken', 200), raw.body, 'POST /v1/sessions/{id}/tokens 200 body')
      assert.equal(raw.body.object, 'token')
      const jwt = token.jwt

      const viaJwks = await verifyToken(jwt, { secretKey, apiUrl })
      assert.equal(viaJwks.sub, userId)
      assert.equal(viaJwks.sid, sessionId)
      const pem = (await t.services.signingKeys.current(instance)).publicKeyPem
      const viaPem = await verifyToken(jwt, { jwtKey: pem })
      assert.equal(viaPem.sub, userId)

      const claims = claimsOf(jwt)
      assert.equal(claims.exp - claims.iat, 60)
      assert.equal(claims.nbf, claims.iat - 10)
      // The SDKs compare `iss`, without its scheme, with the publishable key's host.
      const keyHost = Buffer.from(instance.publishableKey.split('_')[2]!, 'base64').toString().slice(0, -1)
      assert.equal(claims.iss, `${new URL(t.config.publicUrl).protocol}//${keyHost}`)
      assert.equal(claims.sts, 'active')
      assert.deepEqual(claims.fva, [0, -1])
      assert.equal(claims.v, 2)
      assert.deepEqual(JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString()).alg, 'RS256')
    })

    // @see issue 13
    it('a token whose payload was changed after signing, or that has expired, is refused by verifyToken', async () => {
      const { secretKey, clerk, sessionId } = await signedUp()
      const [header, , signature] = (await clerk.sessions.getToken(sessionId)).jwt.split('.')
      const forgedClaims = { ...claimsOf((await clerk.sessions.getToken(sessionId)).jwt), sub: 'user_someone_else' }
      const forged = `${header}.${Buffer.from(JSON.stringify(forgedClaims)).toString('base64url')}.${signature}`
      assert.equal((await refusal(verifyToken(forged, { secretKey, apiUrl }))).reason, 'token-invalid-signature')

      // verifyToken reads the wall clock; the test app's clock is the server's, so a token
      // minted with it set 2 minutes back is 60 s past exp plus the 5 s skew for the verifier.
      t.clock.advance(-120_000)
      let expired: string
      try {
        expired = (await clerk.sessions.getToken(sessionId)).jwt
      } finally {
        t.clock.advance(120_000)
      }
      assert.equal((await refusal(verifyToken(expired, { secretKey, apiUrl }))).reason, 'token-expired')
    })
  })

  describe('POST /v1/sessions/{id}/revoke', () => {
    // @see issue 13
    it('revokes the session: status revoked, no token minted, and its cookie no longer signs in on the Frontend API', async () => {
      const { clerk, sessionId, userId, cookie, instance } = await signedUp()
      const before = await f.get('/v1/client', { session: cookie, instance: instance.id })
      assert.equal(before.body.response.sessions.length, 1)

      const revoked = await clerk.sessions.revokeSession(sessionId)
      const raw = recorded('POST', `/v1/sessions/${sessionId}/revoke`)
      assertMatchesSpec(spec.response('RevokeSession', 200), raw.body, 'POST /v1/sessions/{id}/revoke 200 body')
      assert.equal(revoked.status, 'revoked')
      assert.equal((await clerk.sessions.getSession(sessionId)).status, 'revoked')
      assert.equal((await clerk.sessions.getSessionList({ userId, status: 'revoked' })).totalCount, 1)
      assert.equal((await clerk.sessions.revokeSession(sessionId)).status, 'revoked')

      const refused = await sdkError(clerk.sessions.getToken(sessionId))
      assert.equal(refused.status, 404)
      assertMatchesSpec(spec.response('CreateSessionToken', 404), recorded('POST', `/v1/sessions/${sessionId}/tokens`).body, 'tokens 404 body')

      const after = await f.get('/v1/client', { session: cookie, instance: instance.id })
      assert.equal(after.status, 200)
      assert.equal(after.body.response?.sessions?.length ?? 0, 0)
    })

    // @see issue 13
    it('a session past its expiry shows as expired and gets no token', async () => {
      const { clerk, sessionId, userId } = await signedUp()
      t.clock.advance(8 * 24 * 60 * 60 * 1000)
      try {
        assert.equal((await clerk.sessions.getSession(sessionId)).status, 'expired')
        assert.equal((await clerk.sessions.getSessionList({ userId, status: 'expired' })).totalCount, 1)
        assert.equal((await sdkError(clerk.sessions.getToken(sessionId))).status, 404)
      } finally {
        t.clock.advance(-8 * 24 * 60 * 60 * 1000)
      }
    })
  })
})
