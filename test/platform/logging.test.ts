import { after, before, it } from 'node:test'
import assert from 'node:assert/strict'
import { APP_ORIGIN, buildTestApp, client, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { makeInvitation } from '../helpers/factories.js'
import { browser } from '../pages/page-client.js'
import { redactSecrets } from '../../src/platform/redact.js'

forEachDatabase('logs never carry a ticket', (engine) => {
  const lines: string[] = []
  let t: TestApp
  before(async () => { t = await buildTestApp({ engine, logLines: lines }) })
  after(() => t.close())

  // @see issue 12
  it('an invitation followed through its link, pages and a warning quoting the URL leaves no ticket in any log line', async () => {
    const { secretKey } = await t.newInstance()
    const api = client(t.app, secretKey)
    const inv = await makeInvitation(api, { redirect_url: `${APP_ORIGIN}/welcome` })
    const ticket = new URL(inv.url).searchParams.get('ticket')!
    const b = browser(t.app)
    const landing = await b.get(inv.url)
    assert.equal(landing.statusCode, 303)
    await b.get(`/sign-up?__clerk_ticket=${ticket}&__clerk_status=sign_up`)
    await b.get(`/no-such-page?redirect_url=${encodeURIComponent(`${APP_ORIGIN}/x?__clerk_ticket=${ticket}`)}`)
    // Fastify's own warnings (a reply sent twice, say) quote the request URL in their message and error.
    const url = `/sign-up?__clerk_ticket=${ticket}`
    t.app.log.warn({ err: new Error(`Reply was already sent in "${url}" (POST)`) }, `Reply was already sent, did you forget to "return reply" in "${url}" (POST)?`)
    t.app.log.error({ link: inv.url, encoded: encodeURIComponent(inv.url) }, 'a link')

    assert.ok(lines.length > 5, `expected request lines, got ${lines.length}`)
    assert.deepEqual(lines.filter((l) => l.includes(ticket)), [])
    assert.ok(lines.some((l) => l.includes('Reply was already sent') && l.includes('__clerk_ticket=[redacted]')))
    assert.ok(lines.some((l) => l.includes('ticket%3D[redacted]')))
  })
})

it('redactSecrets keeps the rest of the text and stops at the end of the value', () => {
  assert.equal(redactSecrets('GET /v1/tickets/accept?ticket=abc.DEF-_1&x=1 "next"'), 'GET /v1/tickets/accept?ticket=[redacted]&x=1 "next"')
  assert.equal(redactSecrets('{"url":"/sign-in?__clerk_ticket=tk_123\\"}"'), '{"url":"/sign-in?__clerk_ticket=[redacted]\\"}"')
  assert.equal(redactSecrets('/dashboard/setup?token=s3cr3t'), '/dashboard/setup?token=[redacted]')
  // @see issue 13: the handshake's credentials, both ways they travel.
  assert.equal(redactSecrets('/v1/clients/handshake_payload?nonce=n0nce'), '/v1/clients/handshake_payload?nonce=[redacted]')
  assert.equal(redactSecrets('/v1/client/handshake?redirect_url=x&__session=eyJ.a.b&__clerk_db_jwt=dvb_1&format=nonce'),
    '/v1/client/handshake?redirect_url=x&__session=[redacted]&__clerk_db_jwt=[redacted]&format=nonce')
  assert.equal(redactSecrets('http://app/?__clerk_handshake=eyJ.a.b&__clerk_handshake_nonce=abc'), 'http://app/?__clerk_handshake=[redacted]&__clerk_handshake_nonce=[redacted]')
  assert.equal(redactSecrets('redirect=https%3A%2F%2Fa%3F__clerk_ticket%3Dabc%26b%3D1'), 'redirect=https%3A%2F%2Fa%3F__clerk_ticket%3D[redacted]%26b%3D1')
  // @see issue 12: encoded twice, letters of the name encoded, and encoded characters in the value.
  assert.equal(redactSecrets('r=https%253A%252F%252Fa%253F__clerk_ticket%253Dabc%2526b%253D1'), 'r=https%253A%252F%252Fa%253F__clerk_ticket%253D[redacted]%2526b%253D1')
  assert.equal(redactSecrets('/sign-up?__clerk_%74icket=abc&x=1'), '/sign-up?__clerk_%74icket=[redacted]&x=1')
  assert.equal(redactSecrets('/sign-up?%5F%5Fclerk%5F%54ICKET%3dabc'), '/sign-up?%5F%5Fclerk%5F%54ICKET%3d[redacted]')
  assert.equal(redactSecrets('/v1/tickets/accept?ticket=Ab%2DCd%2Bef'), '/v1/tickets/accept?ticket=[redacted]')
  assert.equal(redactSecrets('TICKET=abc Token=def'), 'TICKET=[redacted] Token=[redacted]')
})
