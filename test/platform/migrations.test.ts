import { it } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { openDb, type Db } from '../../src/platform/db/db.js'
import { migrate } from '../../src/platform/db/migrate.js'
import { packageRoot } from '../../src/platform/paths.js'
import { createPostgresDatabase, forEachDatabase, type Engine } from '../helpers/databases.js'

const MIGRATION_FILES = readdirSync(join(packageRoot, 'src', 'platform', 'migrations')).filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f)).sort()

/** An empty, unmigrated database, and a way to open further connections to it (PostgreSQL only). */
async function freshDatabase(engine: Engine): Promise<{ db: Db; connect: () => Promise<Db>; close: () => Promise<void> }> {
  if (engine === 'pglite') {
    const db = await openDb({ databaseUrl: null, dataDir: null })
    return { db, connect: async () => db, close: () => db.close() }
  }
  const { url, drop } = await createPostgresDatabase()
  const opened: Db[] = []
  const connect = async () => {
    const db = await openDb({ databaseUrl: url, dataDir: null })
    opened.push(db)
    return db
  }
  const db = await connect()
  return {
    db,
    connect,
    close: async () => {
      for (const d of opened) await d.close()
      await drop()
    },
  }
}

const recorded = async (db: Db) =>
  db.query<{ version: string; name: string; applied_at: number }>('select version, name, applied_at from schema_migrations order by version')

const tableExists = async (db: Db, name: string) =>
  (await db.query<{ t: string | null }>('select to_regclass($1)::text as t', [name]))[0]?.t === name

forEachDatabase('migrate()', (engine) => {
  it('applies 001 on a fresh database and records it in schema_migrations', async (t) => {
    const fresh = await freshDatabase(engine)
    t.after(() => fresh.close())
    assert.equal(await tableExists(fresh.db, 'instances'), false)
    const applied = await migrate(fresh.db)
    assert.equal(applied[0], '001_init.sql')
    assert.deepEqual(applied, MIGRATION_FILES)
    const rows = await recorded(fresh.db)
    assert.deepEqual(rows.map((r) => r.version), MIGRATION_FILES.map((f) => f.slice(0, 3)))
    assert.deepEqual(rows[0] && { version: rows[0].version, name: rows[0].name }, { version: '001', name: '001_init.sql' })
    assert.ok(rows.every((r) => Number.isInteger(Number(r.applied_at)) && Number(r.applied_at) > 0))
    for (const table of ['instances', 'secret_keys', 'users', 'email_addresses', 'invitations', 'invitation_counts', 'outbox']) {
      assert.equal(await tableExists(fresh.db, table), true, `table ${table}`)
    }
  })

  it('applies nothing when run again, and leaves schema_migrations as it was', async (t) => {
    const fresh = await freshDatabase(engine)
    t.after(() => fresh.close())
    await migrate(fresh.db)
    const before = await recorded(fresh.db)
    assert.deepEqual(await migrate(fresh.db), [])
    assert.deepEqual(await migrate(fresh.db), [])
    assert.deepEqual(await recorded(fresh.db), before)
  })

  it('lets concurrent migrate() calls on one database all succeed, applying each migration once', async (t) => {
    const fresh = await freshDatabase(engine)
    t.after(() => fresh.close())
    // On PostgreSQL each call gets a connection pool of its own, as separate processes would.
    const dbs = [fresh.db, await fresh.connect(), await fresh.connect()]
    const results = await Promise.all(dbs.map((db) => migrate(db)))
    assert.deepEqual(results.flat().sort(), MIGRATION_FILES, `applied: ${JSON.stringify(results)}`)
    const rows = await recorded(fresh.db)
    assert.deepEqual(rows.map((r) => r.name), MIGRATION_FILES)
    assert.equal(await tableExists(fresh.db, 'invitations'), true)
  })
})
