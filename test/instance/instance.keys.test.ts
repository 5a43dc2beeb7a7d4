import { after, before, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, copyFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { buildTestApp, client, type TestApp } from '../helpers/build-app.js'
import { createPostgresDatabase, forEachDatabase } from '../helpers/databases.js'
import { ApiError } from '../../src/platform/errors.js'
import { randomToken } from '../../src/platform/ids.js'
import { seal, sha256 } from '../../src/platform/secrets.js'
import { migrate } from '../../src/platform/db/migrate.js'
import { packageRoot } from '../../src/platform/paths.js'
import { openDb } from '../../src/platform/db/db.js'
import { manualClock } from '../../src/platform/clock.js'
import { createInstanceService } from '../../src/instance/instance.service.js'
import { createInstanceStore } from '../../src/instance/instance.store.js'
import type { Instance } from '../../src/instance/instance.schemas.js'

const HOUR_MS = 60 * 60 * 1000

/** What a request with this key gets from the Backend API: 200, or 401 once the key stopped working. */
const statusWith = async (t: TestApp, secretKey: string) => (await client(t.app, secretKey).get('/v1/instance')).status

async function refusal(promise: Promise<unknown>): Promise<ApiError> {
  try {
    await promise
  } catch (err) {
    assert.ok(err instanceof ApiError, String(err))
    return err
  }
  assert.fail('expected a refusal')
}

forEachDatabase('secret keys: reveal, roll, delete', (engine) => {
  let t: TestApp
  before(async () => {
    t = await buildTestApp({ engine })
  })
  after(() => t.close())

  it('lists a new instance\'s one key by a hint, and reveals it in full; the database holds neither the key nor anything that opens without the server secret', async () => {
    const { instance, secretKey } = await t.newInstance()
    const keys = await t.services.instances.listKeys(instance)
    assert.equal(keys.length, 1)
    const [key] = keys
    assert.match(key!.id, /^key_[0-9A-Za-z]{27}$/)
    assert.equal(key!.hint, `sk_test_…${secretKey.slice(-4)}`)
    assert.equal(key!.canReveal, true)
    assert.equal(key!.expiresAt, null)
    assert.equal((await t.services.instances.revealKey(instance, key!.id)).secretKey, secretKey)
    const rows = await t.db.query<Record<string, unknown>>('select * from secret_keys where instance_id = $1', [instance.id])
    const dump = JSON.stringify(rows)
    assert.ok(!dump.includes(secretKey) && !dump.includes(secretKey.slice(8, 30)), 'no part of the key beyond its hint is stored')
    assert.equal(rows[0]!.key_hash, sha256(secretKey))
  })

  it('rolls with a grace period: both keys work until it ends (on the server clock, not the test clock), then only the new one', async () => {
    const { instance, secretKey: old } = await t.newInstance()
    const rolled = await t.services.instances.rollKey(instance, HOUR_MS)
    assert.match(rolled.secretKey, /^sk_test_[0-9A-Za-z]{40}$/)
    assert.notEqual(rolled.secretKey, old)
    assert.equal(await statusWith(t, old), 200)
    assert.equal(await statusWith(t, rolled.secretKey), 200)
    const keys = await t.services.instances.listKeys(instance)
    assert.equal(keys.length, 2)
    assert.equal(keys.find((k) => k.id === rolled.key.id)?.expiresAt, null, 'the new key does not stop')
    assert.equal(keys.find((k) => k.id !== rolled.key.id)?.expiresAt, t.clock.now() + HOUR_MS, 'the old one stops in an hour')
    // An instance's test clock moves invitations, never credentials.
    assert.equal((await client(t.app, old).post('/v1/testing/clock', { advance_ms: 2 * HOUR_MS })).status, 200)
    assert.equal(await statusWith(t, old), 200)
    t.clock.advance(HOUR_MS)
    assert.equal(await statusWith(t, old), 401, 'past the grace period, even though it was just used (and cached)')
    assert.equal(await statusWith(t, rolled.secretKey), 200)
    assert.deepEqual((await t.services.instances.listKeys(instance)).map((k) => k.id), [rolled.key.id])
  })

  it('rolls with no grace period: the old key stops at once, in this process\'s cache too', async () => {
    const { instance, secretKey: old } = await t.newInstance()
    assert.equal(await statusWith(t, old), 200)
    const rolled = await t.services.instances.rollKey(instance, 0)
    assert.equal(await statusWith(t, old), 401)
    assert.equal(await statusWith(t, rolled.secretKey), 200)
    assert.equal((await t.services.instances.listKeys(instance)).length, 1)
  })

  it('a lookup that raced a roll does not put the old key back into the cache', async () => {
    const { instance, secretKey: old } = await t.newInstance()
    const store = createInstanceStore()
    let release!: () => void
    const held = new Promise<void>((resolve) => { release = resolve })
    const service = createInstanceService({
      db: t.db, clock: t.clock, serverSecret: t.serverSecret, publicUrl: 'http://foyer.test', allowedRedirectOrigins: [], testing: true,
      // The first lookup reads the key, then is held until the roll has committed.
      store: { ...store, findByKeyHash: async (...args) => { const row = await store.findByKeyHash(...args); await held; return row } },
    })
    const racing = service.authenticate(old)
    await service.rollKey(instance, 0)
    release()
    assert.equal((await racing)?.id, instance.id, 'the lookup answers what it read')
    assert.equal(await service.authenticate(old), null, 'but did not cache it: the next request with the old key is refused')
  })

  it('requests that arrive together with a key not yet in memory share one read of it, an unknown key\'s too; a read that fails fails them all and the next one reads again', async () => {
    const { instance, secretKey } = await t.newInstance()
    const store = createInstanceStore()
    const reads = { key: 0, id: 0 }
    let failNext = false
    const service = createInstanceService({
      db: t.db, clock: t.clock, serverSecret: t.serverSecret, publicUrl: 'http://foyer.test', allowedRedirectOrigins: [], testing: true,
      store: {
        ...store,
        findByKeyHash: async (...args) => {
          reads.key++
          if (failNext) {
            failNext = false
            throw new Error('connection lost')
          }
          return store.findByKeyHash(...args)
        },
        findById: async (...args) => {
          reads.id++
          return store.findById(...args)
        },
      },
    })
    const together = (n: number, call: () => Promise<unknown>) => Promise.allSettled(Array.from({ length: n }, call))

    const found = await together(20, () => service.authenticate(secretKey))
    assert.deepEqual(found.map((r) => r.status === 'fulfilled' && (r.value as Instance | null)?.id), Array(20).fill(instance.id))
    assert.equal(reads.key, 1, 'twenty requests, one read')
    await service.authenticate(secretKey)
    assert.equal(reads.key, 1, 'then served from memory')

    const unknown = 'sk_test_' + randomToken(40)
    const refused = await together(20, () => service.authenticate(unknown))
    assert.deepEqual(refused.map((r) => r.status === 'fulfilled' && r.value), Array(20).fill(null))
    assert.equal(reads.key, 2, 'a flood of one unknown key is one read at a time')
    assert.equal(await service.authenticate(unknown), null)
    assert.equal(reads.key, 3, 'and an unknown key is not remembered')

    const other = await t.newInstance()
    failNext = true
    const failed = await together(5, () => service.authenticate(other.secretKey))
    assert.deepEqual(failed.map((r) => r.status), Array(5).fill('rejected'))
    assert.equal(reads.key, 4)
    assert.equal((await service.authenticate(other.secretKey))?.id, other.instance.id, 'the failure is not kept: the next request reads again')
    assert.equal(reads.key, 5)

    const byId = await together(20, () => service.find(instance.id))
    assert.deepEqual(byId.map((r) => r.status === 'fulfilled' && (r.value as Instance | null)?.id), Array(20).fill(instance.id))
    assert.equal(reads.id, 1, 'the same for instances looked up by id')
  })

  it('a second roll shortens no key\'s life beyond what it was given, and a live instance rolls to sk_live_ keys', async () => {
    const { instance, secretKey: first } = await t.newInstance()
    t.clock.advance(1000)
    const t0 = t.clock.now()
    const second = await t.services.instances.rollKey(instance, 24 * HOUR_MS)
    t.clock.advance(1000)
    const third = await t.services.instances.rollKey(instance, 7 * 24 * HOUR_MS)
    const keys = await t.services.instances.listKeys(instance)
    assert.deepEqual(keys.map((k) => k.expiresAt), [t0 + 24 * HOUR_MS, t0 + 1000 + 7 * 24 * HOUR_MS, null])
    for (const key of [first, second.secretKey, third.secretKey]) assert.equal(await statusWith(t, key), 200)

    const live = 'sk_live_' + randomToken(40)
    const { instance: liveInstance } = await t.services.instances.create({ name: 'Live', secretKey: live })
    assert.match((await t.services.instances.rollKey(liveInstance, 0)).secretKey, /^sk_live_[0-9A-Za-z]{40}$/)
  })

  it('refuses a grace period that is not offered (422 naming grace_period)', async () => {
    const { instance, secretKey } = await t.newInstance()
    for (const ms of [-1, 1, 2 * HOUR_MS, Number.NaN]) {
      const err = await refusal(t.services.instances.rollKey(instance, ms))
      assert.equal(err.status, 422)
      assert.equal(err.meta.param_name, 'grace_period')
    }
    assert.equal((await t.services.instances.listKeys(instance)).length, 1)
    assert.equal(await statusWith(t, secretKey), 200)
  })

  it('deletes a key at once, but never the last working one (422 secret_key_last_active); concurrent deletions leave one', async () => {
    const { instance, secretKey: old } = await t.newInstance()
    const rolled = await t.services.instances.rollKey(instance, 24 * HOUR_MS)
    const oldKey = (await t.services.instances.listKeys(instance)).find((k) => k.id !== rolled.key.id)
    await t.services.instances.deleteKey(instance, oldKey!.id)
    assert.equal(await statusWith(t, old), 401)
    const last = await refusal(t.services.instances.deleteKey(instance, rolled.key.id))
    assert.equal(last.status, 422)
    assert.equal(last.code, 'secret_key_last_active')
    assert.equal(await statusWith(t, rolled.secretKey), 200)

    // A key in its grace period does not count: it would leave the instance keyless when it stops.
    const again = await t.services.instances.rollKey(instance, HOUR_MS)
    const lasting = await refusal(t.services.instances.deleteKey(instance, again.key.id))
    assert.equal(lasting.code, 'secret_key_last_active')
    assert.equal(await statusWith(t, again.secretKey), 200)

    const other = await t.newInstance()
    await t.services.instances.rollKey(other.instance, 24 * HOUR_MS)
    const both = await t.services.instances.listKeys(other.instance)
    const results = await Promise.allSettled(both.map((k) => t.services.instances.deleteKey(other.instance, k.id)))
    assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected'])
    assert.equal((await t.services.instances.listKeys(other.instance)).length, 1)
  })

  it('never reaches another instance\'s keys: their ids answer 404 for reveal and delete', async () => {
    const mine = await t.newInstance()
    const theirs = await t.newInstance()
    const [theirKey] = await t.services.instances.listKeys(theirs.instance)
    // Started one at a time: a second promise made up front could reject before it is awaited.
    for (const attempt of [() => t.services.instances.revealKey(mine.instance, theirKey!.id), () => t.services.instances.deleteKey(mine.instance, theirKey!.id)]) {
      const err = await refusal(attempt())
      assert.equal(err.status, 404)
      assert.equal(err.code, 'resource_not_found')
    }
    assert.equal(await statusWith(t, theirs.secretKey), 200)
  })

  it('a key that cannot be shown (stored before keys were sealed, or sealed under another server secret) answers 409 but still works', async () => {
    const { instance, secretKey } = await t.newInstance()
    const [key] = await t.services.instances.listKeys(instance)
    await t.db.query('update secret_keys set sealed_key = $2 where id = $1', [key!.id, seal(randomBytes(32), secretKey, `secret_key:${instance.id}:${key!.id}`)])
    const elsewhere = await refusal(t.services.instances.revealKey(instance, key!.id))
    assert.equal(elsewhere.status, 409)
    assert.equal(elsewhere.code, 'secret_key_not_revealable')
    assert.match(elsewhere.longMessage, /another server secret/)
    await t.db.query('update secret_keys set sealed_key = null, hint = null where id = $1', [key!.id])
    assert.equal((await t.services.instances.listKeys(instance))[0]!.canReveal, false)
    assert.match((await refusal(t.services.instances.revealKey(instance, key!.id))).longMessage, /made before Foyer could show keys again/)
    assert.equal(await statusWith(t, secretKey), 200)
  })
})

forEachDatabase('secret keys pinned by FOYER_SECRET_KEY', (engine) => {
  // @see issue 12
  it('a pinned key with - and _ (any URL-safe key) is the instance\'s key and authenticates', async (t) => {
    const pinned = 'sk_test_' + randomToken(12) + '-_' + randomToken(12) + '_-'
    const app = await buildTestApp({ engine, env: { FOYER_SECRET_KEY: pinned } })
    t.after(() => app.close())
    await app.services.instances.bootstrap(pinned)
    assert.equal(await statusWith(app, pinned), 200)
    assert.equal(await statusWith(app, pinned.replace(/-_/, '__')), 401)
  })

  it('the default instance\'s pinned key is revealed, but neither rolled nor deleted (409 secret_key_pinned); other instances roll freely', async (t) => {
    const pinned = 'sk_test_' + randomToken(40)
    const app = await buildTestApp({ engine, env: { FOYER_SECRET_KEY: pinned } })
    t.after(() => app.close())
    const { instance } = await app.services.instances.bootstrap(pinned)
    const [key] = await app.services.instances.listKeys(instance)
    assert.equal(key!.isPinned, true)
    assert.equal((await app.services.instances.revealKey(instance, key!.id)).secretKey, pinned)
    for (const attempt of [() => app.services.instances.rollKey(instance, 0), () => app.services.instances.deleteKey(instance, key!.id)]) {
      const err = await refusal(attempt())
      assert.equal(err.status, 409)
      assert.equal(err.code, 'secret_key_pinned')
      assert.match(err.longMessage, /FOYER_SECRET_KEY/)
    }
    assert.equal(await statusWith(app, pinned), 200)
    const other = await app.newInstance()
    assert.equal((await app.services.instances.listKeys(other.instance))[0]!.isPinned, false)
    await app.services.instances.rollKey(other.instance, 0)
  })

  it('pinning a key at start makes it the only key, working until changed and sealed under the current server secret, whatever came before', async (t) => {
    const app = await buildTestApp({ engine })
    t.after(() => app.close())
    // Started once without a pin: the default instance's key is rolled with a week of grace.
    const first = await app.services.instances.bootstrap(null)
    const printed = (await app.services.instances.revealKey(first.instance, (await app.services.instances.listKeys(first.instance))[0]!.id)).secretKey
    const rolled = await app.services.instances.rollKey(first.instance, 7 * 24 * HOUR_MS)
    const [printedKey] = (await app.services.instances.listKeys(first.instance)).filter((k) => k.id !== rolled.key.id)
    // The old key was sealed under another server secret (FOYER_SECRET changed since).
    await app.db.query('update secret_keys set sealed_key = $2 where id = $1', [printedKey!.id, seal(randomBytes(32), printed, `secret_key:${first.instance.id}:${printedKey!.id}`)])

    // Restarted with FOYER_SECRET_KEY set to the key printed at first start.
    const pinnedService = createInstanceService({
      db: app.db, clock: app.clock, store: createInstanceStore(), publicUrl: 'http://foyer.test', serverSecret: app.serverSecret,
      pinnedSecretKey: printed, allowedRedirectOrigins: [], testing: true,
    })
    const boot = await pinnedService.bootstrap(printed)
    assert.equal(boot.instance.id, first.instance.id)
    const keys = await pinnedService.listKeys(boot.instance)
    assert.deepEqual(keys.map((k) => ({ id: k.id, expiresAt: k.expiresAt, isPinned: k.isPinned })), [{ id: printedKey!.id, expiresAt: null, isPinned: true }])
    assert.equal((await pinnedService.revealKey(boot.instance, printedKey!.id)).secretKey, printed)
    assert.equal(await pinnedService.authenticate(rolled.secretKey), null, 'exactly that key')
    app.clock.advance(8 * 24 * HOUR_MS)
    assert.equal((await pinnedService.authenticate(printed))?.id, first.instance.id, 'and it does not stop when the old grace period would have ended')
  })
})

forEachDatabase('secret keys made before keys were sealed (migration 010)', (engine) => {
  it('keep working with an id of their own; a pinned one becomes revealable at the next start', async (t) => {
    // A database as it was before migration 010, with two keys in it.
    const fresh = engine === 'pglite' ? { url: null, drop: async () => {} } : await createPostgresDatabase()
    const db = await openDb({ databaseUrl: fresh.url, dataDir: null })
    t.after(async () => {
      await db.close()
      await fresh.drop()
    })
    const dir = mkdtempSync(join(tmpdir(), 'foyer-migrations-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    const all = join(packageRoot, 'src', 'platform', 'migrations')
    for (const file of readdirSync(all).filter((f) => f < '010')) copyFileSync(join(all, file), join(dir, file))
    await migrate(db, dir)
    const plain = 'sk_test_' + randomToken(40)
    const pinned = 'sk_test_' + randomToken(40)
    for (const [id, key, isDefault] of [['ins_plain', plain, false], ['ins_default', pinned, true]] as const) {
      await db.query(`insert into instances (id, name, environment_type, publishable_key, is_default, created_at, updated_at) values ($1, $1, 'development', 'pk_test_x', $2, 1, 1)`, [id, isDefault])
      await db.query('insert into secret_keys (key_hash, instance_id, created_at) values ($1, $2, 1)', [sha256(key), id])
    }
    assert.deepEqual((await migrate(db))[0], '010_instance_keys_origins.sql')

    const service = createInstanceService({
      db, clock: manualClock(Date.now()), store: createInstanceStore(), publicUrl: 'http://foyer.test', serverSecret: randomBytes(32),
      pinnedSecretKey: pinned, allowedRedirectOrigins: [], testing: true,
    })
    const instance = (await service.authenticate(plain)) as Instance
    assert.equal(instance.id, 'ins_plain')
    assert.deepEqual(instance.allowedRedirectOrigins, [])
    const [legacy] = await service.listKeys(instance)
    assert.match(legacy!.id, /^key_[0-9a-f]{27}$/)
    assert.ok(!sha256(plain).includes(legacy!.id.slice(4, 16)), 'the id tells nothing of the key')
    assert.equal(legacy!.hint, null)
    assert.equal(legacy!.canReveal, false)

    const [pinnedBefore] = await db.query<{ id: string; created_at: number }>('select id, created_at from secret_keys where instance_id = $1', ['ins_default'])
    const boot = await service.bootstrap(pinned)
    assert.equal(boot.instance.id, 'ins_default')
    const [sealedNow] = await service.listKeys(boot.instance)
    assert.equal(sealedNow!.id, pinnedBefore!.id, 'the same key, under its id')
    assert.equal(sealedNow!.createdAt, pinnedBefore!.created_at)
    assert.equal((await service.revealKey(boot.instance, sealedNow!.id)).secretKey, pinned)
  })
})
