import { describe, it } from 'node:test'
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { openDb, type Db } from '../../src/platform/db/db.js'
import { migrate } from '../../src/platform/db/migrate.js'

export type Engine = 'pglite' | 'postgres'

export const postgresUrl = process.env.TEST_DATABASE_URL || null
export const redisUrl = process.env.TEST_REDIS_URL || null

export function engines(): Engine[] {
  return postgresUrl ? ['pglite', 'postgres'] : ['pglite']
}

/**
 * Runs a suite once per engine: PGlite always, PostgreSQL when TEST_DATABASE_URL is set.
 * Without it the PostgreSQL run shows up as a skipped test that says why.
 */
export function forEachDatabase(name: string, suite: (engine: Engine) => void) {
  describe(`${name} [pglite]`, () => suite('pglite'))
  if (postgresUrl) describe(`${name} [postgres]`, () => suite('postgres'))
  else it(`${name} [postgres]`, { skip: 'TEST_DATABASE_URL is not set' }, () => {})
}

/** A migrated, empty database of its own: in-memory PGlite, or a new PostgreSQL database dropped on close. */
export async function openTestDb(engine: Engine): Promise<{ db: Db; url: string | null; drop: () => Promise<void> }> {
  if (engine === 'pglite') {
    const db = await openDb({ databaseUrl: null, dataDir: null })
    await migrate(db)
    return { db, url: null, drop: () => db.close() }
  }
  const { url, drop } = await createPostgresDatabase()
  const db = await openDb({ databaseUrl: url, dataDir: null })
  await migrate(db)
  return {
    db,
    url,
    drop: async () => {
      await db.close()
      await drop()
    },
  }
}

/** A fresh, empty PostgreSQL database on the TEST_DATABASE_URL server. */
export async function createPostgresDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  if (!postgresUrl) throw new Error('TEST_DATABASE_URL is not set')
  const name = `foyer_t_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({ connectionString: postgresUrl })
  await admin.connect()
  await admin.query(`create database ${name}`)
  await admin.end()
  const url = new URL(postgresUrl)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: postgresUrl })
      await c.connect()
      await c.query(`drop database if exists ${name} with (force)`)
      await c.end()
    },
  }
}
