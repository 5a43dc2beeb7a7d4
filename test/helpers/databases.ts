import { describe, it } from 'node:test'
import { createHash, randomBytes } from 'node:crypto'
import { readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gunzipSync, gzipSync } from 'node:zlib'
import { PGlite } from '@electric-sql/pglite'
import pg from 'pg'
import { openDb, type Db } from '../../src/platform/db/db.js'
import { migrate } from '../../src/platform/db/migrate.js'
import { pgliteDb } from '../../src/platform/db/pglite.js'
import { packageRoot } from '../../src/platform/paths.js'

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

/**
 * The data folder of a freshly migrated, empty PGlite database, dumped once and shared: a new
 * in-memory PGlite spends about 4 s in initdb (WebAssembly), loading this image under 1 s.
 * The image is kept gzipped in the temporary folder under a hash of everything that shapes it
 * (the migrations, the code that runs them, PGlite's version), so the test files of one run,
 * and later runs, make it only once; any change to those makes a new one. Each process holds
 * it unzipped, which PGlite loads faster.
 */
let image: Promise<Blob> | null = null
function migratedImage(): Promise<Blob> {
  image ??= (async () => {
    const migrations = join(packageRoot, 'src', 'platform', 'migrations')
    const hash = createHash('sha256')
    hash.update(readFileSync(join(dirname(fileURLToPath(import.meta.resolve('@electric-sql/pglite'))), '..', 'package.json')))
    for (const file of readdirSync(migrations).sort()) hash.update(file).update(readFileSync(join(migrations, file)))
    for (const module of ['../../src/platform/db/migrate.js', '../../src/platform/db/pglite.js']) hash.update(readFileSync(fileURLToPath(import.meta.resolve(module))))
    const path = join(tmpdir(), `foyer-test-pglite-${hash.digest('hex').slice(0, 16)}.tar.gz`)
    let tar: Buffer
    try {
      tar = gunzipSync(await readFile(path))
    } catch {
      tar = await dumpMigrated()
      // Written aside, then renamed: test files starting together never read half an image.
      const partial = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`
      writeFileSync(partial, gzipSync(tar))
      renameSync(partial, path)
    }
    return new Blob([tar as Uint8Array<ArrayBuffer>], { type: 'application/x-tar' })
  })()
  return image
}

/** A new in-memory PGlite, migrated by `migrate()`, dumped as a tar of its data folder. */
async function dumpMigrated(): Promise<Buffer> {
  const pglite = await PGlite.create()
  try {
    await migrate(pgliteDb(pglite))
    return Buffer.from(await (await pglite.dumpDataDir('none')).arrayBuffer())
  } finally {
    await pglite.close()
  }
}

/** A migrated, empty database of its own: in-memory PGlite, or a new PostgreSQL database dropped on close. */
export async function openTestDb(engine: Engine): Promise<{ db: Db; url: string | null; drop: () => Promise<void> }> {
  if (engine === 'pglite') {
    const db = pgliteDb(await PGlite.create({ loadDataDir: await migratedImage() }))
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
