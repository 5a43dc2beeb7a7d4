import { after, before, beforeEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import type { ClerkClient } from '@clerk/backend'
import { APP_ORIGIN, client, uniqueEmail, type TestApp, forEachSdkTarget, startSdkServer, type SdkServer } from '../helpers/build-app.js'
import { assertMatchesFapi, assertMatchesSpec, loadBapiSpec } from '../helpers/spec.js'
import { fapi, type Fapi, type FapiReply } from '../frontend/fapi-client.js'
import { browser, intoApplication, textOf } from '../pages/page-client.js'
import { createClerkClient, exchanges, recorded, sdkError } from './sdk-recorder.js'

const spec = loadBapiSpec()
const THIRTY_DAYS_MS = 30 * 24 * 60 * 60 * 1000

function assertTicketRefused(res: FapiReply, code: 'ticket_invalid' | 'ticket_expired') {
  assert.equal(res.status, 400, JSON.stringify(res.body))
  assert.equal(res.body.errors[0].code, code)
  assert.equal(res.body.errors[0].meta?.param_name, 'ticket')
  assertMatchesFapi('ClerkErrors', res.body)
  assert.equal(res.session, null, 'a refused ticket sets no session cookie')
}

forEachSdkTarget('@clerk/backend signInTokens', (target) => {
  let server: SdkServer
  let t: TestApp
  let f: Fapi
  let apiUrl: string
  const logLines: string[] = []

  before(async () => {
    server = await startSdkServer(target, { logLines })
    t = server.t
    f = fapi(t.app)
    apiUrl = server.apiUrl
  })
  after(() => server.close())
  beforeEach(() => {
    exchanges.length = 0
  })

  const newClerk = async (): Promise<{ clerk: ClerkClient; secretKey: string; instanceId: string }> => {
    const { secretKey, instance } = await t.newInstance()
    return { clerk: createClerkClient({ secretKey, apiUrl, telemetry: { disabled: true } }), secretKey, instanceId: instance.id }
  }
  const newToken = async (expiresInSeconds = 3600) => {
    const c = await newClerk()
    const user = await c.clerk.users.createUser({ emailAddress: [uniqueEmail('sit')], password: 'correct horse battery staple' })
    const token = await c.clerk.signInTokens.createSignInToken({ userId: user.id, expiresInSeconds })
    return { ...c, user, token }
  }
  const signIn = (ticket: string, instance?: string) => f.post('/v1/client/sign_ins', { strategy: 'ticket', ticket }, instance ? { instance } : {})

  it('creates a pending token for the user, with its token and hosted link, valid 30 days by default', async () => {
    const { token, user } = await newToken()
    const raw = recorded('POST', '/v1/sign_in_tokens')
    assert.equal(raw.status, 200)
    assertMatchesSpec(spec.response('CreateSignInToken', 200), raw.body, 'POST /v1/sign_in_tokens 200 body')
    assert.equal(raw.body.object, 'sign_in_token')
    assert.equal(token.status, 'pending')
    assert.equal(token.userId, user.id)
    assert.match(token.id, /^sit_[A-Za-z0-9]{27}$/)
    assert.match(token.token, /^sit\.[A-Za-z0-9_-]{43}$/)
    assert.equal(new URL(token.url).searchParams.get('__clerk_ticket'), token.token)
  })

  it('lasts 30 days when expires_in_seconds is left out', async () => {
    const { secretKey } = await newClerk()
    const api = client(t.app, secretKey)
    const user = await api.post('/v1/users', { email_address: [uniqueEmail('sit')] })
    const res = await api.post('/v1/sign_in_tokens', { user_id: user.body.id })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assertMatchesSpec(spec.response('CreateSignInToken', 200), res.body, 'POST /v1/sign_in_tokens 200 body')
    const [row] = await t.db.query<{ expires_at: number; created_at: number }>('select expires_at, created_at from sign_in_tokens where id = $1', [res.body.id])
    assert.equal(Number(row!.expires_at) - Number(row!.created_at), THIRTY_DAYS_MS)
    const unknown = await api.post('/v1/sign_in_tokens', { user_id: user.body.id, org_id: 'org_x' })
    assert.equal(unknown.status, 422)
    assert.equal(unknown.body.errors[0].code, 'form_param_unknown')
  })

  it('stores only the token\'s hash', async () => {
    const { token } = await newToken()
    const rows = await t.db.query<Record<string, unknown>>('select * from sign_in_tokens where id = $1', [token.id])
    assert.equal(rows.length, 1)
    const stored = JSON.stringify(rows[0])
    assert.ok(!stored.includes(token.token) && !stored.includes(token.token.slice(4)), 'the table holds no plaintext token')
    assert.equal(rows[0]!.token_hash, createHash('sha256').update(token.token).digest('hex'))
  })

  it('refuses a lifetime under one second and an unknown user, naming the parameter', async () => {
    const { clerk } = await newClerk()
    const user = await clerk.users.createUser({ emailAddress: [uniqueEmail('sit')] })
    const short = await sdkError(clerk.signInTokens.createSignInToken({ userId: user.id, expiresInSeconds: 0 }))
    assert.equal(short.status, 422)
    assert.equal(short.errors[0]?.meta?.paramName, 'expires_in_seconds')
    assertMatchesSpec(spec.response('CreateSignInToken', 422), recorded('POST', '/v1/sign_in_tokens').body, 'POST /v1/sign_in_tokens 422 body')
    exchanges.length = 0
    const unknown = await sdkError(clerk.signInTokens.createSignInToken({ userId: 'user_nobody', expiresInSeconds: 60 }))
    assert.equal(unknown.status, 404)
    assertMatchesSpec(spec.response('CreateSignInToken', 404), recorded('POST', '/v1/sign_in_tokens').body, 'POST /v1/sign_in_tokens 404 body')
  })

  it('signs the user in once through the Frontend API ticket strategy', async () => {
    const { token, user } = await newToken()
    const res = await signIn(token.token)
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assertMatchesFapi('Client.ClientWrappedSignIn', res.body)
    assert.equal(res.body.response.status, 'complete')
    assert.ok(res.session, 'a session cookie is set')
    const sessions = res.body.client.sessions as { user: { id: string } }[]
    assert.equal(sessions[0]?.user.id, user.id)
    const [row] = await t.db.query<{ status: string }>('select status from sign_in_tokens where id = $1', [token.id])
    assert.equal(row!.status, 'accepted')
    assertTicketRefused(await signIn(token.token), 'ticket_invalid')
  })

  it('two concurrent uses: exactly one signs in', async () => {
    const { token, instanceId } = await newToken()
    const answers = await Promise.all([signIn(token.token), signIn(token.token)])
    assert.deepEqual(answers.map((a) => a.status).sort(), [200, 400])
    assertTicketRefused(answers.find((a) => a.status === 400)!, 'ticket_invalid')
    const [n] = await t.db.query<{ n: string }>('select count(*) as n from sessions where instance_id = $1', [instanceId])
    assert.equal(Number(n!.n), 1)
  })

  it('revokes a pending token, which then signs no one in; revoking again is refused', async () => {
    const { clerk, token } = await newToken()
    const revoked = await clerk.signInTokens.revokeSignInToken(token.id)
    const raw = recorded('POST', `/v1/sign_in_tokens/${token.id}/revoke`)
    assert.equal(raw.status, 200)
    assertMatchesSpec(spec.response('RevokeSignInToken', 200), raw.body, 'revoke 200 body')
    assert.equal(revoked.status, 'revoked')
    assert.equal(raw.body.token, undefined, 'the token is shown only on create')
    assertTicketRefused(await signIn(token.token), 'ticket_invalid')
    exchanges.length = 0
    const again = await sdkError(clerk.signInTokens.revokeSignInToken(token.id))
    assert.equal(again.status, 400)
    assertMatchesSpec(spec.response('RevokeSignInToken', 400), recorded('POST', `/v1/sign_in_tokens/${token.id}/revoke`).body, 'revoke 400 body')
  })

  it('expires on the instance\'s clock', async () => {
    const { token } = await newToken(60)
    t.clock.advance(61_000)
    assertTicketRefused(await signIn(token.token), 'ticket_expired')
    const [row] = await t.db.query<{ status: string }>('select status from sign_in_tokens where id = $1', [token.id])
    assert.equal(row!.status, 'pending')
  })

  it('is refused while its user is banned or locked, and stays usable once lifted', async () => {
    const { clerk, token, user } = await newToken()
    const pending = async () => (await t.db.query<{ status: string }>('select status from sign_in_tokens where id = $1', [token.id]))[0]!.status
    for (const [restrict, lift, code] of [
      [() => clerk.users.banUser(user.id), () => clerk.users.unbanUser(user.id), 'user_banned'],
      [() => clerk.users.lockUser(user.id), () => clerk.users.unlockUser(user.id), 'user_locked'],
    ] as const) {
      await restrict()
      const refused = await signIn(token.token)
      assert.equal(refused.status, 403, JSON.stringify(refused.body))
      assert.equal(refused.body.errors[0].code, code)
      assertMatchesFapi('ClerkErrors', refused.body)
      assert.ok(!refused.session, 'no session cookie')
      assert.equal(await pending(), 'pending', 'a refused use does not spend the token')
      await lift()
    }
    const res = await signIn(token.token)
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal(await pending(), 'accepted')
  })

  it('is refused once its user is deleted', async () => {
    const { clerk, token, user } = await newToken()
    await clerk.users.deleteUser(user.id)
    assertTicketRefused(await signIn(token.token), 'ticket_invalid')
  })

  it('is invisible to another instance: its key cannot revoke it, and it works under no other instance', async () => {
    const { token, instanceId } = await newToken()
    const other = await newClerk()
    const err = await sdkError(other.clerk.signInTokens.revokeSignInToken(token.id))
    assert.equal(err.status, 404)
    assertMatchesSpec(spec.response('RevokeSignInToken', 404), recorded('POST', `/v1/sign_in_tokens/${token.id}/revoke`).body, 'revoke 404 body')
    const elsewhere = await signIn(token.token, other.instanceId)
    assert.notEqual(elsewhere.status, 200)
    const [row] = await t.db.query<{ status: string }>('select status from sign_in_tokens where id = $1', [token.id])
    assert.equal(row!.status, 'pending', 'the token is untouched')
    assert.equal((await signIn(token.token, instanceId)).status, 200)
  })

  it('the hosted link asks before using the token, then signs in once and leads into the application through the handshake', async () => {
    const { token, secretKey } = await newToken()
    assert.equal((await client(t.app, secretKey).patch('/v1/instance', { home_url: `${APP_ORIGIN}/home` })).status, 200)
    const b = browser(t.app)
    const page = await b.get(token.url)
    assert.equal(page.statusCode, 200)
    assert.match(textOf(page.body), /Continue/)
    assert.equal((await b.get(token.url)).statusCode, 200, 'opening the link again (a mail scanner, a preview) uses nothing')
    const [before] = await t.db.query<{ status: string }>('select status from sign_in_tokens where id = $1', [token.id])
    assert.equal(before!.status, 'pending')
    const done = await b.submit(page)
    assert.equal(done.statusCode, 303, done.body)
    assert.equal(intoApplication(done.headers.location), `${APP_ORIGIN}/home`)
    const again = await browser(t.app).submit(page)
    assert.ok(again.statusCode === 404 || again.statusCode === 403, `a second use is refused (${again.statusCode})`)
    assert.equal((await browser(t.app).get(token.url)).statusCode, 404)
    assert.ok(!logLines.some((line) => line.includes(token.token.slice(4))), 'the token is never logged')
  })
})
