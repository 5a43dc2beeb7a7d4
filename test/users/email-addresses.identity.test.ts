import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { PUBLIC_URL, buildTestApp, client, uniqueEmail, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { assertMatchesFapi } from '../helpers/spec.js'
import { fapi, ticketOf, type Fapi } from '../frontend/fapi-client.js'

const PASSWORD = 'correct horse battery'

forEachDatabase('a secondary email address is the person\'s identity', (engine) => {
  let t: TestApp
  let f: Fapi
  before(async () => {
    t = await buildTestApp({ engine })
    f = fapi(t.app)
  })
  after(() => t.close())

  /** A user with a primary address and a further one, verified or not. */
  const person = async (verified: boolean) => {
    const { instance, secretKey } = await t.newInstance()
    const api = client(t.app, secretKey)
    const user = await api.post('/v1/users', { email_address: [uniqueEmail('primary')], password: PASSWORD })
    assert.equal(user.status, 200)
    const secondary = uniqueEmail('secondary')
    const added = await api.post('/v1/email_addresses', { user_id: user.body.id, email_address: secondary, verified })
    assert.equal(added.status, 200, JSON.stringify(added.body))
    return { instance, api, userId: user.body.id as string, secondary, secondaryId: added.body.id as string }
  }

  describe('POST /v1/invitations', () => {
    it('treats an invitation to a verified secondary address as one to the existing user', async () => {
      const p = await person(true)
      const refused = await p.api.post('/v1/invitations', { email_address: p.secondary.toUpperCase() })
      assert.equal(refused.status, 400)
      assert.equal(refused.body.errors[0].code, 'form_identifier_exists')
      assert.equal(refused.body.errors[0].meta.param_name, 'email_address')

      const inv = await p.api.post('/v1/invitations', { email_address: p.secondary, ignore_existing: true })
      assert.equal(inv.status, 200)
      const res = await t.app.inject({ method: 'GET', url: new URL(inv.body.url).pathname + new URL(inv.body.url).search })
      assert.equal(res.statusCode, 303)
      const location = new URL(res.headers.location as string, PUBLIC_URL)
      assert.equal(location.searchParams.get('__clerk_status'), 'sign_in')
      assert.equal(location.searchParams.get('__clerk_ticket'), ticketOf(inv.body))
    })
  })

  describe('POST /v1/client/sign_ins', () => {
    it('signs the person in with a verified secondary address as identifier', async () => {
      const p = await person(true)
      const res = await f.post('/v1/client/sign_ins', { identifier: p.secondary, password: PASSWORD }, { instance: p.instance.id, form: true })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assertMatchesFapi('Client.ClientWrappedSignIn', res.body)
      assert.equal(res.body.response.status, 'complete')
      assert.equal(res.body.client.sessions[0].user.id, p.userId)
      assert.ok(res.session)
    })

    it('refuses an unverified secondary address as identifier with 422 form_identifier_not_found', async () => {
      const p = await person(false)
      const res = await f.post('/v1/client/sign_ins', { identifier: p.secondary, password: PASSWORD }, { instance: p.instance.id, form: true })
      assert.equal(res.status, 422, JSON.stringify(res.body))
      assert.equal(res.body.errors[0].code, 'form_identifier_not_found')
      assert.equal(res.session, null)

      // Verified by the operator, it becomes an identifier.
      const verified = await p.api.patch(`/v1/email_addresses/${p.secondaryId}`, { verified: true })
      assert.equal(verified.status, 200)
      const again = await f.post('/v1/client/sign_ins', { identifier: p.secondary, password: PASSWORD }, { instance: p.instance.id, form: true })
      assert.equal(again.status, 200, JSON.stringify(again.body))
    })
  })
})
