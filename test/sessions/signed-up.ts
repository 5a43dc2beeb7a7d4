import assert from 'node:assert/strict'
import { client, type TestApp } from '../helpers/build-app.js'
import { makeInvitation } from '../helpers/factories.js'
import { fapi, ticketOf } from '../frontend/fapi-client.js'

export const PASSWORD = 'correct horse battery'

/** A new instance, and a person signed up there with an invitation's ticket on the Frontend API. */
export async function signedUp(t: TestApp) {
  const { instance, secretKey } = await t.newInstance()
  const api = client(t.app, secretKey)
  const invitation = await makeInvitation(api)
  const res = await fapi(t.app).post('/v1/client/sign_ups', { strategy: 'ticket', ticket: ticketOf(invitation), password: PASSWORD })
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return {
    instance, secretKey, api,
    /** The browser's Foyer session cookie. */
    cookie: res.session!,
    clientId: res.body.client.id as string,
    userId: res.body.response.created_user_id as string,
    sessionId: res.body.response.created_session_id as string,
  }
}
