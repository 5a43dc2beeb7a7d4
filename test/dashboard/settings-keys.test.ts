import { it } from 'node:test'
import assert from 'node:assert/strict'
import { client } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { browser, textOf } from '../pages/page-client.js'
import { randomToken } from '../../src/platform/ids.js'
import { csrfOf, dashboardApp, formFields, OPERATOR_PASSWORD, type Dashboard } from './dashboard-client.js'

const settingsOf = (d: Dashboard, instanceId = d.instanceId) => `/dashboard/${instanceId}/settings`
const keyIds = (body: string) => [...body.matchAll(/<tr data-key="([^"]+)">/g)].map((m) => m[1]!)
const anyKey = /sk_(?:test|live)_[A-Za-z0-9]{20,}/g
const statusWith = async (d: Dashboard, secretKey: string) => (await client(d.t.app, secretKey).get('/v1/instance')).status

forEachDatabase('dashboard settings: secret keys', (engine) => {
  it('lists the key by its hint; Reveal (a POST) shows it in full, logged without the key; no GET ever shows it', async (t) => {
    const logLines: string[] = []
    const d = await dashboardApp(engine, { logLines })
    t.after(() => d.t.close())
    const page = await d.op.get(settingsOf(d))
    assert.equal(page.statusCode, 200)
    assert.ok(textOf(page.body).includes(`sk_test_…${d.secretKey.slice(-4)}`))
    assert.deepEqual(page.body.match(anyKey), null, 'no key on the page')
    const [keyId] = keyIds(page.body)
    assert.ok(keyId)

    const reveal = `${settingsOf(d)}/keys/${keyId}/reveal`
    // Not without the operator's password, asked again.
    for (const password of ['', 'not my password']) {
      const refused = await d.op.post(reveal, { ...formFields(page.body, reveal), password })
      assert.equal(refused.statusCode, 422)
      assert.match(textOf(refused.body), /That is not your password: revealing a key needs the password you sign in with/)
      assert.match(refused.body, new RegExp(`<details open><summary>Reveal</summary>[^]*?id="password-${keyId}"[^>]* aria-invalid="true"`))
      assert.deepEqual(refused.body.match(anyKey), null)
    }
    assert.match(page.body, new RegExp(`<input id="password-${keyId}" name="password" type="password" autocomplete="current-password" required>`))
    const shown = await d.op.post(reveal, { ...formFields(page.body, reveal), password: OPERATOR_PASSWORD })
    assert.equal(shown.statusCode, 200)
    assert.match(shown.body, new RegExp(`<input id="secret-key-${keyId}" class="secret" readonly value="${d.secretKey}">`))
    assert.equal(shown.headers['cache-control'], 'no-store')
    assert.deepEqual(shown.body.match(anyKey), [d.secretKey])
    assert.deepEqual((await d.op.get(settingsOf(d))).body.match(anyKey), null, 'gone on the next page')

    const audit = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'secret key revealed')
    assert.equal(audit?.keyId, keyId)
    assert.equal(audit?.instanceId, d.instanceId)
    assert.equal(typeof audit?.operatorId, 'string')
    assert.deepEqual(logLines.filter((l) => l.includes(d.secretKey)), [], 'the key is never logged')
  })

  it('Roll makes a new key (redirected, marked new, revealable) and keeps the old one for the grace period chosen', async (t) => {
    const logLines: string[] = []
    const d = await dashboardApp(engine, { logLines })
    t.after(() => d.t.close())
    const page = await d.op.get(settingsOf(d))
    assert.match(page.body, /<option value="24" selected>Keep the old key working for 24 hours<\/option>/)
    const roll = `${settingsOf(d)}/keys/roll`
    const rolled = await d.op.post(roll, { ...formFields(page.body, roll), grace_period: '1' })
    assert.equal(rolled.statusCode, 303, rolled.body)
    const [oldId] = keyIds(page.body)
    const after = await d.op.follow(rolled)
    assert.match(textOf(after.body), /A new secret key was made, marked new below/)
    const ids = keyIds(after.body)
    assert.equal(ids.length, 2)
    const newId = ids.find((id) => id !== oldId)!
    assert.match(after.body, new RegExp(`<tr data-key="${newId}">[^]*?<span class="status status-sent">new</span>`))
    assert.match(after.body, new RegExp(`<tr data-key="${oldId}">[^]*?stops `))
    assert.deepEqual(after.body.match(anyKey), null, 'the redirect shows no key')

    const reveal = `${settingsOf(d)}/keys/${newId}/reveal`
    const newKey = (await d.op.post(reveal, { ...formFields(after.body, reveal), password: OPERATOR_PASSWORD })).body.match(anyKey)![0]
    assert.notEqual(newKey, d.secretKey)
    assert.equal(await statusWith(d, newKey), 200)
    assert.equal(await statusWith(d, d.secretKey), 200, 'the old key works for the hour')
    d.t.clock.advance(60 * 60 * 1000)
    assert.equal(await statusWith(d, d.secretKey), 401)
    assert.equal(await statusWith(d, newKey), 200)
    assert.ok(logLines.some((l) => l.includes('"msg":"secret key rolled"')))
    assert.deepEqual(logLines.filter((l) => l.includes(newKey) || l.includes(d.secretKey)), [])
  })

  it('Delete stops a key at once; the last working key offers no Delete, and a forged one is refused inline (422)', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const first = await d.op.get(settingsOf(d))
    const [oldId] = keyIds(first.body)
    assert.ok(!first.body.includes(`/keys/${oldId}/delete`), 'one key: nothing to delete')
    const roll = `${settingsOf(d)}/keys/roll`
    assert.equal((await d.op.post(roll, { ...formFields(first.body, roll), grace_period: '168' })).statusCode, 303)
    const two = await d.op.get(settingsOf(d))
    const del = `${settingsOf(d)}/keys/${oldId}/delete`
    assert.ok(two.body.includes(del))
    const newId = keyIds(two.body).find((id) => id !== oldId)
    assert.ok(!two.body.includes(`/keys/${newId}/delete`), 'the key that lasts offers no Delete while the other is only in its grace period')
    const deleted = await d.op.post(del, formFields(two.body, del))
    assert.equal(deleted.statusCode, 303)
    assert.equal(deleted.headers.location, `${settingsOf(d)}?notice=key-deleted#api-keys`)
    assert.equal(await statusWith(d, d.secretKey), 401)

    const one = await d.op.get(settingsOf(d))
    const [lastId] = keyIds(one.body)
    const refused = await d.op.post(`${settingsOf(d)}/keys/${lastId}/delete`, { _csrf: csrfOf(one.body) })
    assert.equal(refused.statusCode, 422)
    assert.match(textOf(refused.body), /No other key of this instance works until rolled .*: roll this one instead/)
    assert.equal(keyIds(refused.body).length, 1)
  })

  it('counts wrong passwords at Reveal with failed sign-ins: past the limit, 429 with Retry-After, even with the right one', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const page = await d.op.get(settingsOf(d))
    const reveal = `${settingsOf(d)}/keys/${keyIds(page.body)[0]}/reveal`
    for (let i = 0; i < 10; i++) assert.equal((await d.op.post(reveal, { _csrf: csrfOf(page.body), password: `guess ${i}` })).statusCode, 422)
    const limited = await d.op.post(reveal, { _csrf: csrfOf(page.body), password: OPERATOR_PASSWORD })
    assert.equal(limited.statusCode, 429)
    assert.ok(Number(limited.headers['retry-after']) > 0)
    assert.deepEqual(limited.body.match(anyKey), null)
  })

  it('refuses another instance\'s key ids (404), an unknown grace period (422), and POSTs without a CSRF token (403) or a session (401)', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const other = await d.t.newInstance('Other')
    const otherPage = await d.op.get(settingsOf(d, other.instance.id))
    const [theirKey] = keyIds(otherPage.body)
    const page = await d.op.get(settingsOf(d))
    const csrf = csrfOf(page.body)
    for (const action of ['reveal', 'delete']) {
      const res = await d.op.post(`${settingsOf(d)}/keys/${theirKey}/${action}`, { _csrf: csrf, password: OPERATOR_PASSWORD })
      assert.equal(res.statusCode, 404, action)
      assert.deepEqual(res.body.match(anyKey), null)
    }
    assert.equal(await statusWith(d, other.secretKey), 200)

    for (const grace of ['2', '-1', 'forever', '']) {
      const res = await d.op.post(`${settingsOf(d)}/keys/roll`, { _csrf: csrf, grace_period: grace })
      assert.equal(res.statusCode, 422, grace)
      assert.match(textOf(res.body), /grace_period must be one of 0, 1, 24, 168 hours/)
    }
    const [keyId] = keyIds(page.body)
    for (const action of [`keys/${keyId}/reveal`, 'keys/roll', `keys/${keyId}/delete`]) {
      const path = `${settingsOf(d)}/${action}`
      const missing = await d.op.post(path, { grace_period: '0' })
      assert.equal(missing.statusCode, 403, path)
      assert.deepEqual(missing.body.match(anyKey), null)
      assert.equal((await browser(d.t.app).post(path, { _csrf: csrf, grace_period: '0' })).statusCode, 401, path)
    }
    assert.equal(keyIds((await d.op.get(settingsOf(d))).body).length, 1, 'nothing was rolled')
    assert.equal(await statusWith(d, d.secretKey), 200)
  })

  it('a key FOYER_SECRET_KEY pins is revealed but offers no Roll, and a forged roll is refused inline (409)', async (t) => {
    const pinned = 'sk_test_' + randomToken(40)
    const d = await dashboardApp(engine, { env: { FOYER_SECRET_KEY: pinned } })
    t.after(() => d.t.close())
    const { instance } = await d.t.services.instances.bootstrap(pinned)
    const page = await d.op.get(settingsOf(d, instance.id))
    assert.match(textOf(page.body), /FOYER_SECRET_KEY/)
    assert.match(textOf(page.body), /This instance's key is set by FOYER_SECRET_KEY ?, so it is rolled there/)
    assert.ok(!page.body.includes('/keys/roll'))
    const [keyId] = keyIds(page.body)
    const reveal = `${settingsOf(d, instance.id)}/keys/${keyId}/reveal`
    assert.deepEqual((await d.op.post(reveal, { ...formFields(page.body, reveal), password: OPERATOR_PASSWORD })).body.match(anyKey), [pinned])
    const refused = await d.op.post(`${settingsOf(d, instance.id)}/keys/roll`, { _csrf: csrfOf(page.body), grace_period: '0' })
    assert.equal(refused.statusCode, 409)
    assert.match(textOf(refused.body), /This instance's key is set by FOYER_SECRET_KEY, so it cannot be rolled here/)
    assert.equal(await statusWith(d, pinned), 200)
    // The instance the dashboard created is not pinned: it rolls.
    assert.ok((await d.op.get(settingsOf(d))).body.includes('/keys/roll'))
  })

  it('a new instance\'s page says its key can be revealed again, and shows it once in the answer', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const res = await d.submit('/dashboard/instances/new', '/dashboard/instances', { name: 'Fresh' })
    assert.equal(res.statusCode, 200)
    assert.match(textOf(res.body), /It can be revealed again, or rolled, under this instance's Settings/)
    const [key] = res.body.match(anyKey)!
    assert.equal(await statusWith(d, key), 200)
  })
})
