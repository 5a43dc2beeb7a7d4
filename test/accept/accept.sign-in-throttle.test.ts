import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { buildTestApp, uniqueEmail, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase, redisUrl } from '../helpers/databases.js'
import { fapi, type Fapi, type FapiReply } from '../frontend/fapi-client.js'
import { ApiError } from '../../src/platform/errors.js'
import { newId } from '../../src/platform/ids.js'
import { sha256 } from '../../src/platform/secrets.js'
import { hashPassword } from '../../src/users/passwords.js'
import { createUserStore } from '../../src/users/users.store.js'
import { createAcceptService } from '../../src/accept/accept.service.js'
import { createAcceptStore } from '../../src/accept/accept.store.js'
import { createInvitationStore } from '../../src/invitations/invitations.store.js'
import { createOutboxStore } from '../../src/platform/outbox/outbox.store.js'
import { createSignInThrottle, memoryCounter, redisCounter, SIGN_IN_LIMITS, type Counter } from '../../src/accept/sign-in-throttle.js'
import { createInstanceStore } from '../../src/instance/instance.store.js'
import { createRestrictionStore } from '../../src/restrictions/restrictions.store.js'
import { createOrganizationStore } from '../../src/organizations/organizations.store.js'
import { createOrgInvitationStore } from '../../src/organizations/org-invitations.store.js'

const PASSWORD = 'correct horse battery'
const WRONG = 'wrong horse battery'

function assertTooMany(res: FapiReply) {
  assert.equal(res.status, 429, JSON.stringify(res.body))
  assert.equal(res.headers['content-type'], 'application/json')
  assert.equal(res.body.errors[0].code, 'too_many_requests')
  const retryAfter = String(res.headers['retry-after'])
  assert.match(retryAfter, /^\d+$/)
  assert.ok(Number(retryAfter) >= 1 && Number(retryAfter) <= SIGN_IN_LIMITS.windowMs / 1000, retryAfter)
  assert.equal(res.session, null)
}

forEachDatabase('Sign-in throttling', (engine) => {
  let t: TestApp
  let f: Fapi
  let hash: string
  before(async () => {
    t = await buildTestApp({ engine })
    f = fapi(t.app)
    hash = await hashPassword(PASSWORD)
  })
  after(() => t.close())

  const member = async () => {
    const { instance } = await t.newInstance()
    const now = t.clock.now()
    const email = uniqueEmail('throttled')
    await createUserStore().insert(t.db, { id: newId('user', now), instanceId: instance.id, emailId: newId('idn', now), emailAddress: email, verification: 'admin', passwordHash: hash, now })
    return { instance, email }
  }
  const signIn = (instanceId: string, identifier: string, password: string, remoteAddress = '203.0.113.7') =>
    f.post('/v1/client/sign_ins', { identifier, password }, { instance: instanceId, remoteAddress })

  it(`POST /v1/client/sign_ins answers 429 with Retry-After after ${SIGN_IN_LIMITS.perAccount} failures for one account, even for the right password, until the window passes`, async () => {
    const { instance, email } = await member()
    for (let i = 0; i < SIGN_IN_LIMITS.perAccount; i++) {
      const res = await signIn(instance.id, email, WRONG, `198.51.100.${i}`)
      assert.equal(res.status, 422, `attempt ${i + 1}: ${JSON.stringify(res.body)}`)
    }
    // Another IP, the right password: the account is what is throttled.
    assertTooMany(await signIn(instance.id, email, PASSWORD, '192.0.2.99'))
    // The address in another case is the same account.
    assertTooMany(await signIn(instance.id, email.toUpperCase(), PASSWORD, '192.0.2.99'))
    // The hosted pages sign in through the same service, without an IP: throttled too.
    await assert.rejects(t.services.accept.signIn({ instance, identifier: email, password: PASSWORD }),
      (err: ApiError) => err instanceof ApiError && err.status === 429 && err.code === 'too_many_requests' && /^\d+$/.test(err.headers['retry-after']!))
    // Other accounts are untouched.
    const other = await member()
    assert.equal((await signIn(other.instance.id, other.email, PASSWORD)).status, 200)

    t.clock.advance(SIGN_IN_LIMITS.windowMs)
    assert.equal((await signIn(instance.id, email, PASSWORD)).status, 200)
  })

  it('unknown identifiers are throttled like known ones, so 429 tells nothing about which addresses have accounts', async () => {
    const { instance } = await t.newInstance()
    const ghost = uniqueEmail('ghost')
    for (let i = 0; i < SIGN_IN_LIMITS.perAccount; i++) assert.equal((await signIn(instance.id, ghost, WRONG, `198.51.100.${i}`)).status, 422)
    assertTooMany(await signIn(instance.id, ghost, WRONG, '192.0.2.98'))
  })

  it('successful sign-ins do not count', async () => {
    const { instance, email } = await member()
    // More attempts than the limit, half of them right: only the failures count.
    for (let i = 0; i < SIGN_IN_LIMITS.perAccount + 2; i++) {
      const res = await signIn(instance.id, email, i % 2 === 0 ? PASSWORD : WRONG)
      assert.equal(res.status, i % 2 === 0 ? 200 : 422, `attempt ${i + 1}`)
    }
  })
})

describe('Sign-in throttling with REDIS_URL', { skip: redisUrl ? false : 'TEST_REDIS_URL is not set' }, () => {
  let t: TestApp
  let redis: Redis
  before(async () => {
    redis = new Redis(redisUrl!)
    t = await buildTestApp({ redis })
  })
  after(async () => {
    await t.close()
    redis.disconnect()
  })

  it('counts in Redis, where every Foyer process sees the same count', async () => {
    const { instance } = await t.newInstance()
    const email = uniqueEmail('shared')
    const f = fapi(t.app)
    for (let i = 0; i < SIGN_IN_LIMITS.perAccount; i++) {
      assert.equal((await f.post('/v1/client/sign_ins', { identifier: email, password: WRONG }, { instance: instance.id })).status, 422)
    }
    assert.equal(await redis.get(`foyer-signin:acct:${sha256(`${instance.id}\n${email}`)}`), String(SIGN_IN_LIMITS.perAccount))
    assertTooMany(await f.post('/v1/client/sign_ins', { identifier: email, password: WRONG }, { instance: instance.id }))
  })
})

describe('Sign-in throttle per client IP (accept service with small limits)', () => {
  let t: TestApp
  before(async () => {
    t = await buildTestApp()
  })
  after(() => t.close())

  it('refuses an IP past its limit whatever accounts it aims at, and only that IP', async () => {
    const throttle = createSignInThrottle({ counter: memoryCounter(() => t.clock.now()), limits: { perAccount: 100, perIp: 3, windowMs: 60_000 } })
    const accept = createAcceptService({
      db: t.db, clock: t.clock, serverSecret: t.serverSecret, publicUrl: t.config.publicUrl, allowedRedirectOrigins: t.config.allowedRedirectOrigins, store: createAcceptStore(),
      instances: createInstanceStore(), users: createUserStore(), invitations: createInvitationStore(), outbox: createOutboxStore(),
      tickets: t.services.tickets, throttle, restrictions: createRestrictionStore(),
      organizations: { invitations: createOrgInvitationStore(), invitationService: t.services.orgInvitations, memberships: t.services.memberships, organizations: createOrganizationStore() },
    })
    const { instance } = await t.newInstance()
    const attempt = (ip: string | undefined) => accept.signIn({ instance, identifier: uniqueEmail('spray'), password: WRONG, ip })
    for (let i = 0; i < 3; i++) await assert.rejects(attempt('203.0.113.1'), { code: 'form_identifier_not_found' })
    await assert.rejects(attempt('203.0.113.1'), (err: ApiError) => err.status === 429 && Number(err.headers['retry-after']) === 60)
    await assert.rejects(attempt('203.0.113.2'), { code: 'form_identifier_not_found' })
    await assert.rejects(attempt(undefined), { code: 'form_identifier_not_found' })
    t.clock.advance(60_000)
    await assert.rejects(attempt('203.0.113.1'), { code: 'form_identifier_not_found' })
  })
})

/** The contract every counter keeps; run on memory always and on Redis when TEST_REDIS_URL is set. */
function counterSuite(name: string, make: () => Promise<{ counter: Counter; wait?: (ms: number) => Promise<void>; close?: () => Promise<void> }>) {
  describe(name, () => {
    let c: Awaited<ReturnType<typeof make>>
    before(async () => { c = await make() })
    after(async () => { await c.close?.() })
    const key = () => `test:${randomBytes(6).toString('hex')}`

    it('counts hits in a window and answers the time left in it', async () => {
      const k = key()
      assert.equal((await c.counter.hit(k, 60_000)).count, 1)
      const second = await c.counter.hit(k, 60_000)
      assert.equal(second.count, 2)
      assert.ok(second.retryAfterMs > 55_000 && second.retryAfterMs <= 60_000, String(second.retryAfterMs))
    })

    it('refunds a hit, never below zero, and not after the window has ended', async () => {
      const k = key()
      await c.counter.hit(k, 60_000)
      await c.counter.hit(k, 60_000)
      await c.counter.refund(k)
      assert.equal((await c.counter.hit(k, 60_000)).count, 2)
      const gone = key()
      await c.counter.refund(gone)
      assert.equal((await c.counter.hit(gone, 60_000)).count, 1)
    })

    it('starts a new window once the old one ends', async () => {
      const k = key()
      await c.counter.hit(k, 50)
      await c.counter.hit(k, 50)
      await c.wait!(60)
      await c.counter.refund(k)
      assert.equal((await c.counter.hit(k, 50)).count, 1)
    })
  })
}

let now = 0
counterSuite('memoryCounter', async () => ({ counter: memoryCounter(() => now), wait: async (ms) => { now += ms } }))

if (redisUrl) {
  counterSuite('redisCounter', async () => {
    const redis = new Redis(redisUrl!)
    return {
      counter: redisCounter(redis, memoryCounter(() => Date.now())),
      wait: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      close: async () => { redis.disconnect() },
    }
  })

  it('redisCounter: two processes (two counters on one Redis) count together', async () => {
    const a = new Redis(redisUrl!)
    const b = new Redis(redisUrl!)
    try {
      const k = `test:${randomBytes(6).toString('hex')}`
      const one = redisCounter(a, memoryCounter(() => Date.now()))
      const two = redisCounter(b, memoryCounter(() => Date.now()))
      await one.hit(k, 60_000)
      assert.equal((await two.hit(k, 60_000)).count, 2)
    } finally {
      a.disconnect()
      b.disconnect()
    }
  })
} else {
  it('redisCounter', { skip: 'TEST_REDIS_URL is not set' }, () => {})
}

it('redisCounter falls back to counting in this process while Redis fails', async () => {
  // Nothing listens on port 1; no offline queue, so every command fails at once.
  const broken = new Redis({ port: 1, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null })
  broken.on('error', () => {})
  const errors: unknown[] = []
  const counter = redisCounter(broken, memoryCounter(() => 0), (err) => errors.push(err))
  assert.equal((await counter.hit('k', 1000)).count, 1)
  assert.equal((await counter.hit('k', 1000)).count, 2)
  await counter.refund('k')
  assert.equal((await counter.hit('k', 1000)).count, 2)
  assert.ok(errors.length >= 4)
  broken.disconnect()
})
