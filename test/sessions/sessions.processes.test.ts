import { after, before, it } from 'node:test'
import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import { createClerkClient } from '@clerk/backend'
import { buildTwoProcesses, client, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase, redisUrl } from '../helpers/databases.js'
import { makeInvitation } from '../helpers/factories.js'
import { fapi, ticketOf } from '../frontend/fapi-client.js'
import { SESSION_COOKIE } from '../../src/accept/session-cookie.js'
import { CURRENT_KEY_CACHE_MS } from '../../src/sessions/signing-keys.service.js'

const APP = 'http://localhost:5173'
const kidOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString()).kid as string

forEachDatabase('sessions across two Foyer processes', (engine) => {
  if (!redisUrl) {
    it('needs TEST_REDIS_URL', { skip: 'TEST_REDIS_URL is not set' }, () => {})
    return
  }
  let t: TestApp
  let second: FastifyInstance
  let close: () => Promise<void>
  let urlA: string
  let urlB: string

  before(async () => {
    ({ t, second, close } = await buildTwoProcesses(engine))
    urlA = await t.app.listen({ port: 0, host: '127.0.0.1' })
    urlB = await second.listen({ port: 0, host: '127.0.0.1' })
  })
  after(() => close())

  const handshakeOn = (app: FastifyInstance, instanceId: string, cookie: string) => app.inject({
    method: 'GET', url: `/fapi/${instanceId}/v1/client/handshake?redirect_url=${encodeURIComponent(`${APP}/`)}&format=nonce`,
    headers: { cookie: `${SESSION_COOKIE}=${encodeURIComponent(cookie)}` },
  })

  // @see issue 13
  it('trades on one process the nonce the other made, follows a revoke made on the other, and verifies tokens across a rotation made on the other', async () => {
    const { instance, secretKey } = await t.newInstance()
    const invitation = await makeInvitation(client(t.app, secretKey))
    const signUp = await fapi(t.app).post('/v1/client/sign_ups', { strategy: 'ticket', ticket: ticketOf(invitation), password: 'correct horse battery' })
    const cookie = signUp.session!
    const userId = signUp.body.response.created_user_id as string
    const sessionId = signUp.body.response.created_session_id as string
    // The application talks to process B; the browser's handshake lands on process A.
    const clerkOnB = createClerkClient({ secretKey, apiUrl: urlB, publishableKey: instance.publishableKey, proxyUrl: urlA, telemetry: { disabled: true } })
    const land = (location: string) => clerkOnB.authenticateRequest(new Request(location, { headers: { accept: 'text/html' } }))

    const first = await land(String((await handshakeOn(t.app, instance.id, cookie)).headers.location))
    assert.equal(first.status, 'signed-in', first.message ?? '')
    assert.equal((first.toAuth() as { userId: string }).userId, userId)

    // A rotation on A: B signs with the key it read until that is CURRENT_KEY_CACHE_MS old, which
    // still verifies, then with the new one; both keys verify through B's JWKS.
    const mintOnB = async () => (await client(second, secretKey).post(`/v1/sessions/${sessionId}/tokens`)).body.jwt as string
    const oldKid = kidOf(await mintOnB())
    assert.equal((await client(t.app, secretKey).post('/v1/jwks/rotate')).status, 200)
    const afterRotation = await land(String((await handshakeOn(second, instance.id, cookie)).headers.location))
    assert.equal(afterRotation.status, 'signed-in', afterRotation.message ?? '')
    t.clock.advance(CURRENT_KEY_CACHE_MS)
    assert.notEqual(kidOf(await mintOnB()), oldKid)
    const jwks = (await client(second, secretKey).get('/v1/jwks')).body
    assert.equal(jwks.keys.length, 2)

    // A revoke on B: A's next handshake signs the application out.
    assert.equal((await client(second, secretKey).post(`/v1/sessions/${sessionId}/revoke`)).status, 200)
    const out = await land(String((await handshakeOn(t.app, instance.id, cookie)).headers.location))
    assert.equal(out.status, 'signed-out')
  })
})
