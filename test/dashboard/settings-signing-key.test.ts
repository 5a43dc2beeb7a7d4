import { it } from 'node:test'
import assert from 'node:assert/strict'
import { client } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { browser, textOf } from '../pages/page-client.js'
import { csrfOf, dashboardApp, formFields, type Dashboard } from './dashboard-client.js'

const settingsOf = (d: Dashboard) => `/dashboard/${d.instanceId}/settings`
const rotatePath = (d: Dashboard) => `${settingsOf(d)}/signing-key/rotate`
const kidOf = (body: string) => /<dt>Key id \(kid\)<\/dt><dd class="mono">(jwk_[0-9A-Za-z]+)<\/dd>/.exec(body)?.[1]
const pemOf = (body: string) => /<textarea id="jwt-public-key"[^>]*>([^<]*)<\/textarea>/.exec(body)?.[1]

forEachDatabase('dashboard settings: session signing key', (engine) => {
  // @see issue 13
  it('shows the kid and the public PEM of GET /v1/instance; Rotate (CSRF) makes a new key, redirected with a notice', async (t) => {
    const logLines: string[] = []
    const d = await dashboardApp(engine, { logLines })
    t.after(() => d.t.close())
    const api = client(d.t.app, d.secretKey)
    const page = await d.op.get(settingsOf(d))
    assert.equal(page.statusCode, 200)
    const kid = kidOf(page.body)
    assert.ok(kid, 'the kid is shown')
    const pem = (await api.get('/v1/instance')).body.jwt_public_key
    assert.equal(pemOf(page.body), pem)
    assert.match(pem, /^-----BEGIN PUBLIC KEY-----\n/)
    assert.equal((await api.get('/v1/jwks')).body.keys[0].kid, kid)
    assert.ok(!page.body.includes('PRIVATE KEY'))

    const rotated = await d.op.post(rotatePath(d), formFields(page.body, rotatePath(d)))
    assert.equal(rotated.statusCode, 303, rotated.body)
    assert.equal(rotated.headers.location, `${settingsOf(d)}?notice=signing-key-rotated#signing-key`)
    const after = await d.op.get(String(rotated.headers.location))
    assert.match(textOf(after.body), /A new signing key signs session tokens from now on; the old one stays in the JWKS for 10 minutes/)
    const newKid = kidOf(after.body)
    assert.ok(newKid)
    assert.notEqual(newKid, kid)
    const newPem = (await api.get('/v1/instance')).body.jwt_public_key
    assert.notEqual(newPem, pem)
    assert.equal(pemOf(after.body), newPem)
    assert.deepEqual((await api.get('/v1/jwks')).body.keys.map((k: { kid: string }) => k.kid), [newKid, kid])

    const audit = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'signing key rotated')
    assert.equal(audit?.kid, newKid)
    assert.equal(audit?.instanceId, d.instanceId)
    assert.deepEqual(logLines.filter((l) => l.includes('PRIVATE KEY')), [])
  })

  // @see issue 13
  it('Rotate without the CSRF token (403) or signed out (401) rotates nothing', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const page = await d.op.get(settingsOf(d))
    const kid = kidOf(page.body)
    assert.equal((await d.op.post(rotatePath(d), {})).statusCode, 403)
    assert.equal((await d.op.post(rotatePath(d), { _csrf: 'forged' })).statusCode, 403)
    assert.equal((await browser(d.t.app).post(rotatePath(d), { _csrf: csrfOf(page.body) })).statusCode, 401)
    assert.equal(kidOf((await d.op.get(settingsOf(d))).body), kid)
    assert.equal((await client(d.t.app, d.secretKey).get('/v1/jwks')).body.keys.length, 1)
  })
})
