import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { APP_ORIGIN, buildTestApp, client, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { makeInvitation } from '../helpers/factories.js'
import { assertMatchesFapi } from '../helpers/spec.js'
import { assertClerkError, fapi, ticketOf, type Fapi, type FapiReply } from './fapi-client.js'

const PASSWORD = 'correct horse battery'

forEachDatabase('Frontend API: the _method override clerk-js sends', (engine) => {
  let t: TestApp
  let f: Fapi
  before(async () => {
    t = await buildTestApp({ engine })
    f = fapi(t.app)
  })
  after(() => t.close())

  /** A person signed up with a ticket in a new instance: their cookie's token and session id. */
  async function signedUp() {
    const { instance, secretKey } = await t.newInstance()
    const api = client(t.app, secretKey)
    const res = await f.post('/v1/client/sign_ups', { strategy: 'ticket', ticket: ticketOf(await makeInvitation(api)), password: PASSWORD })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    return { instance, api, session: res.session!, sessionId: res.body.response.created_session_id as string }
  }
  const isSignedIn = async (session: string) => (await t.services.accept.session(session)) !== null

  describe('POST …?_method=DELETE', () => {
    for (const path of ['/v1/client?_method=DELETE', '/v1/client/sessions?_method=DELETE']) {
      it(`POST ${path} signs out as DELETE does, form-encoded and empty as clerk-js sends it`, async () => {
        const s = await signedUp()
        const res = await f.post(path, {}, { session: s.session, form: true, origin: APP_ORIGIN })
        assert.equal(res.status, 200, JSON.stringify(res.body))
        assertMatchesFapi('Client.DeleteSession', res.body)
        assert.equal(res.headers['access-control-allow-origin'], APP_ORIGIN)
        assert.equal(res.session, '', 'the cookie is cleared')
        assert.equal(await isSignedIn(s.session), false)
      })
    }

    it('works under the instance\'s /fapi/<id> prefix, with clerk-js\'s own query parameters beside it', async () => {
      const s = await signedUp()
      const res = await f.post(`/fapi/${s.instance.id}/v1/client/sessions?__clerk_api_version=2026-08-20&_clerk_js_version=6.40.0&_method=DELETE`, {},
        { session: s.session, form: true })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.equal(await isSignedIn(s.session), false)
    })

    it('a lower-case method is the same method', async () => {
      const s = await signedUp()
      assert.equal((await f.post('/v1/client?_method=delete', {}, { session: s.session, form: true })).status, 200)
      assert.equal(await isSignedIn(s.session), false)
    })
  })

  describe('refusals', () => {
    it('any other _method answers 422 form_param_value_invalid naming _method, and changes nothing', async () => {
      const s = await signedUp()
      for (const [method, path] of [
        ['POST', '/v1/client/sessions?_method=GET'],
        ['POST', '/v1/client/sessions?_method=POST'],
        ['POST', '/v1/client/sessions?_method=TRACE'],
        ['POST', '/v1/client/sessions?_method=DELETE&_method=PATCH'],
        ['POST', `/v1/client/sessions/${s.sessionId}/end?_method=`],
        ['GET', '/v1/client?_method=DELETE'],
      ] as const) {
        const res = method === 'GET'
          ? await f.get(path, { session: s.session, origin: APP_ORIGIN })
          : await f.post(path, {}, { session: s.session, form: true, origin: APP_ORIGIN })
        assertClerkError(res, 422, 'form_param_value_invalid', '_method')
        // Where a route answers what was sent, the page may read why; elsewhere no route set CORS headers.
        if (!path.startsWith('/v1/client/sessions?')) assert.equal(res.headers['access-control-allow-origin'], APP_ORIGIN, path)
        assert.equal(res.session, null, path)
      }
      assert.equal(await isSignedIn(s.session), true, 'still signed in')
    })

    it('the Origin check comes first: a refused origin gets 403 origin_invalid whatever _method says', async () => {
      const s = await signedUp()
      const res = await f.post('/v1/client/sessions?_method=DELETE', {}, { session: s.session, form: true, origin: 'https://evil.example.net' })
      assertClerkError(res, 403, 'origin_invalid')
      assert.equal(await isSignedIn(s.session), true)
    })

    it('the Backend API ignores _method: POST /v1/invitations?_method=DELETE creates an invitation', async () => {
      const { api } = await signedUp()
      const res = await api.post('/v1/invitations?_method=DELETE', { email_address: `m.${Date.now()}@example.com`, notify: false })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.equal(res.body.status, 'pending')
    })
  })
})
