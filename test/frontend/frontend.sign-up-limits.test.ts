import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomInt } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { buildTestApp, buildTwoProcesses, client, uniqueEmail, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase, redisUrl } from '../helpers/databases.js'
import type { Instance } from '../../src/instance/instance.schemas.js'
import { browser, textOf } from '../pages/page-client.js'
import { fapi } from './fapi-client.js'

const PASSWORD = 'correct horse battery'
const HOUR_MS = 60 * 60 * 1000

forEachDatabase('code emails for sign-up: limits', (engine) => {
  let t: TestApp
  let instance: Instance
  let seq = 0
  before(async () => {
    t = await buildTestApp({ engine })
    const created = await t.newInstance('Acme')
    instance = created.instance
    assert.equal((await client(t.app, created.secretKey).patch('/v1/instance', { sign_up_mode: 'public' })).status, 200)
  })
  after(() => t.close())

  const newIp = () => `10.9.${Math.floor(seq / 250)}.${seq++ % 250}`
  const codeSignUp = (email: string, ip: string) =>
    fapi(t.app).post('/v1/client/sign_ups', { strategy: 'email_code', email_address: email, password: PASSWORD }, { instance: instance.id, remoteAddress: ip })
  /** The hosted sign-up form, filled and posted from `ip`. */
  async function pageSignUp(email: string, ip: string) {
    const b = browser(t.app, ip)
    return b.submit(await b.get(`/sign-up?instance=${instance.id}`), { email_address: email, password: PASSWORD })
  }
  const codeEmailsTo = async (email: string) => (await t.db.query(
    `select id from outbox where kind = 'email' and topic = 'verification_code' and payload->>'to' = $1`, [email.toLowerCase()])).length
  const assertTooMany = (res: { status: number; body: any; headers: Record<string, unknown> }) => {
    assert.equal(res.status, 429, JSON.stringify(res.body))
    assert.equal(res.body.errors[0].code, 'too_many_requests')
    assert.ok(res.body.errors[0].long_message)
    assert.ok(Number(res.headers['retry-after']) > 0, `Retry-After: ${res.headers['retry-after']}`)
  }

  describe('POST /v1/client/sign_ups per IP', () => {
    // @see issue 12
    it('allows 30 code sign-ups per IP, then answers 429 too_many_requests with Retry-After and emails nothing', async () => {
      const ip = newIp()
      for (let i = 0; i < 30; i++) assert.equal((await codeSignUp(uniqueEmail('bomb'), ip)).status, 200)
      const victim = uniqueEmail('victim')
      assertTooMany(await codeSignUp(victim, ip))
      assert.equal(await codeEmailsTo(victim), 0, 'no code email queued')
      // Another IP still gets through.
      assert.equal((await codeSignUp(uniqueEmail(), newIp())).status, 200)
    })

    // @see issue 12
    it('counts an IPv6 client by its /64: 30 addresses of one network share one budget, and an IPv4-mapped address is its IPv4 one', async () => {
      const net = `2001:db8:${(seq++).toString(16)}:1`
      for (let i = 1; i <= 30; i++) assert.equal((await codeSignUp(uniqueEmail('v6'), `${net}::${i.toString(16)}`)).status, 200)
      assertTooMany(await codeSignUp(uniqueEmail('v6'), `${net}:ffff:ffff:ffff:ffff`))
      assert.equal((await codeSignUp(uniqueEmail('v6'), `2001:db8:${(seq++).toString(16)}:2::1`)).status, 200, 'another /64 has its own')
      const v4 = newIp()
      for (let i = 0; i < 30; i++) assert.equal((await codeSignUp(uniqueEmail('mapped'), i % 2 ? v4 : `::ffff:${v4}`)).status, 200)
      assertTooMany(await codeSignUp(uniqueEmail('mapped'), `::ffff:${v4}`))
    })

    // @see issue 12
    it('shares one budget per IP with the hosted sign-up page', async () => {
      const ip = newIp()
      for (let i = 0; i < 15; i++) {
        assert.equal((await pageSignUp(uniqueEmail('page'), ip)).statusCode, 303)
        assert.equal((await codeSignUp(uniqueEmail('fapi'), ip)).status, 200)
      }
      const victim = uniqueEmail('victim')
      assertTooMany(await codeSignUp(victim, ip))
      const page = await pageSignUp(victim, ip)
      assert.equal(page.statusCode, 429)
      assert.equal(await codeEmailsTo(victim), 0, 'no code email queued')
    })
  })

  describe('code emails per address', () => {
    // @see issue 12
    it('sends at most 5 per address per hour, whichever face and IP asks: then 429 with Retry-After, and nothing queued', async () => {
      const email = uniqueEmail('target')
      for (let i = 0; i < 3; i++) assert.equal((await codeSignUp(email, newIp())).status, 200)
      for (let i = 0; i < 2; i++) assert.equal((await pageSignUp(email, newIp())).statusCode, 303)
      assert.equal(await codeEmailsTo(email), 5)

      const fromApi = await codeSignUp(email.toUpperCase(), newIp())
      assertTooMany(fromApi)
      assert.ok(Number(fromApi.headers['retry-after']) <= HOUR_MS / 1000)
      const fromPage = await pageSignUp(email, newIp())
      assert.equal(fromPage.statusCode, 429)
      assert.ok(Number(fromPage.headers['retry-after']) > 0)
      assert.equal(fromPage.headers['content-type'], 'text/html; charset=utf-8')
      assert.match(textOf(fromPage.body), /Too many codes were sent to this address\. Wait \d+ minutes?, then try again\./)
      assert.equal(await codeEmailsTo(email), 5, 'nothing more queued')
      // Another address is not held back.
      assert.equal((await codeSignUp(uniqueEmail(), newIp())).status, 200)

      t.clock.advance(HOUR_MS)
      assert.equal((await codeSignUp(email, newIp())).status, 200, 'an hour later, one more')
      assert.equal(await codeEmailsTo(email), 6)
    })

    // @see issue 12
    it('counts one inbox however its address is spelt: +tags, and dots at Gmail', async () => {
      const local = `inbox${Date.now().toString(36)}${seq++}`
      const spellings = [`${local}+1@example.com`, `${local}+2@example.com`, `${local}@example.com`, `${local}+a+b@example.com`, `${local}+x@EXAMPLE.com`]
      for (const email of spellings) assert.equal((await codeSignUp(email, newIp())).status, 200, email)
      assertTooMany(await codeSignUp(`${local}+6@example.com`, newIp()))
      const gmail = `g.${local}`
      for (const email of [`${gmail}@gmail.com`, `g${local}@gmail.com`, `g.${local.slice(0, 3)}.${local.slice(3)}@googlemail.com`, `${gmail}+z@gmail.com`, `G${local}@GMAIL.COM`]) {
        assert.equal((await codeSignUp(email, newIp())).status, 200, email)
      }
      assertTooMany(await codeSignUp(`g${local}+last@googlemail.com`, newIp()))
      // Dots matter elsewhere: another provider's dotted address is another inbox.
      assert.equal((await codeSignUp(`${local.slice(0, 3)}.${local.slice(3)}@example.com`, newIp())).status, 200)
    })

    // @see issue 12
    it('holds when many requests for one address race', async () => {
      const email = uniqueEmail('race')
      const answers = await Promise.all(Array.from({ length: 12 }, () => codeSignUp(email, newIp())))
      assert.equal(answers.filter((a) => a.status === 200).length, 5)
      assert.equal(answers.filter((a) => a.status === 429).length, 7)
      assert.equal(await codeEmailsTo(email), 5)
    })
  })
})

forEachDatabase('code sign-ups per IP, shared through Redis', (engine) => {
  if (!redisUrl) {
    it('needs TEST_REDIS_URL', { skip: 'TEST_REDIS_URL is not set' }, () => {})
    return
  }
  let t: TestApp
  let second: FastifyInstance
  let close: () => Promise<void>
  let instance: Instance
  before(async () => {
    ({ t, second, close } = await buildTwoProcesses(engine))
    const created = await t.newInstance('Acme')
    instance = created.instance
    assert.equal((await client(t.app, created.secretKey).patch('/v1/instance', { sign_up_mode: 'public' })).status, 200)
  })
  after(() => close?.())

  // @see issue 12
  it('counts the hosted page on one process and the Frontend API on another against one budget', async () => {
    // A fresh address each run: the counters outlive the test in Redis.
    const ip = `10.${randomInt(250)}.${randomInt(250)}.${randomInt(250)}`
    for (let i = 0; i < 15; i++) {
      const b = browser(t.app, ip)
      assert.equal((await b.submit(await b.get(`/sign-up?instance=${instance.id}`), { email_address: uniqueEmail(), password: PASSWORD })).statusCode, 303)
      const res = await fapi(second).post('/v1/client/sign_ups', { email_address: uniqueEmail(), password: PASSWORD }, { instance: instance.id, remoteAddress: ip })
      assert.equal(res.status, 200)
    }
    const limited = await fapi(second).post('/v1/client/sign_ups', { email_address: uniqueEmail(), password: PASSWORD }, { instance: instance.id, remoteAddress: ip })
    assert.equal(limited.status, 429)
    assert.equal(limited.body.errors[0].code, 'too_many_requests')
    const b = browser(t.app, ip)
    assert.equal((await b.submit(await b.get(`/sign-up?instance=${instance.id}`), { email_address: uniqueEmail(), password: PASSWORD })).statusCode, 429)
  })
})
