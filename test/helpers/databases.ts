import { after, describe, it } from 'node:test'
import { createHash, randomBytes } from 'node:crypto'
import { cpSync, existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gunzipSync, gzipSync } from 'node:zlib'
import { PGlite } from '@electric-sql/pglite'
import pg from 'pg'
import { openDb, type Db } from '../../src/platform/db/db.js'
import { migrate } from '../../src/platform/db/migrate.js'
import { PGLITE_OPTIONS, pgliteDb } from '../../src/platform/db/pglite.js'
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
 * A hash of everything that shapes a freshly migrated database: the migrations, the code that
 * runs them, PGlite's version. The migrated images below are named by it, so any change to
 * those makes new ones.
 */
function schemaKey(): string {
  const migrations = join(packageRoot, 'src', 'platform', 'migrations')
  const hash = createHash('sha256')
  hash.update(readFileSync(join(dirname(fileURLToPath(import.meta.resolve('@electric-sql/pglite'))), '..', 'package.json')))
  for (const file of readdirSync(migrations).sort()) hash.update(file).update(readFileSync(join(migrations, file)))
  for (const module of ['../../src/platform/db/migrate.js', '../../src/platform/db/pglite.js']) hash.update(readFileSync(fileURLToPath(import.meta.resolve(module))))
  return hash.digest('hex').slice(0, 16)
}

/**
 * The data folder of a freshly migrated, empty PGlite database, dumped once and shared: a new
 * in-memory PGlite spends about 4 s in initdb (WebAssembly), loading this image under 1 s.
 * The image is kept gzipped in the temporary folder under the schema key, so the test files
 * of one run, and later runs, make it only once. Each process holds it unzipped, which PGlite
 * loads faster.
 */
let image: Promise<Blob> | null = null
function migratedImage(): Promise<Blob> {
  image ??= (async () => {
    const path = join(tmpdir(), `foyer-test-pglite-${schemaKey()}.tar.gz`)
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
  const pglite = await PGlite.create(PGLITE_OPTIONS)
  try {
    await migrate(pgliteDb(pglite))
    return Buffer.from(await (await pglite.dumpDataDir('none')).arrayBuffer())
  } finally {
    await pglite.close()
  }
}

/**
 * Puts a migrated, empty PGlite data folder at `pgdata` (which must not exist yet), so that a
 * Foyer child process opens it instead of running initdb and every migration in WebAssembly,
 * about 5 s of a start and far more on a busy machine. The folder is made once per schema key
 * from the image above and copied; shutdown.test.ts still starts one Foyer from nothing.
 */
export async function seedPgliteDataDir(pgdata: string): Promise<void> {
  cpSync(await migratedDataDir(), pgdata, { recursive: true })
}

let dataDirTemplate: Promise<string> | null = null
function migratedDataDir(): Promise<string> {
  dataDirTemplate ??= (async () => {
    const path = join(tmpdir(), `foyer-test-pgdata-${schemaKey()}`)
    if (existsSync(join(path, 'PG_VERSION'))) return path
    const making = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`
    const pglite = await PGlite.create(making, { ...PGLITE_OPTIONS, loadDataDir: await migratedImage() })
    await pglite.close()
    // Another test process may have finished one first: a folder is renamed over only an empty one.
    try {
      renameSync(making, path)
    } catch {
      rmSync(making, { recursive: true, force: true })
    }
    return path
  })()
  return dataDirTemplate
}

/**
 * In-memory PGlite databases given back by earlier tests of this process, emptied. Loading the
 * migrated image costs over a second of CPU; emptying every table costs a few milliseconds, and
 * most suites build an app per test. At most two are kept.
 */
const idle: PGlite[] = []
let everyTable: Promise<string> | null = null

async function emptied(pglite: PGlite): Promise<void> {
  everyTable ??= pglite.query<{ tables: string }>(
    `select string_agg(quote_ident(tablename), ', ') as tables from pg_tables where schemaname = 'public' and tablename <> 'schema_migrations'`,
  ).then((r) => r.rows[0]!.tables)
  // A test may end holding a session-level advisory lock; the next one must not inherit it.
  await pglite.exec(`select pg_advisory_unlock_all(); truncate ${await everyTable} restart identity cascade`)
}

async function givenBack(pglite: PGlite): Promise<void> {
  if (pglite.closed) return
  try {
    if (idle.length >= 2) throw new Error('enough kept')
    await emptied(pglite)
    idle.push(pglite)
  } catch {
    await pglite.close().catch(() => {})
  }
}

// An open PGlite keeps its process alive: those kept must close when the file's tests end.
after(async () => {
  for (const pglite of idle.splice(0)) await pglite.close().catch(() => {})
})

/** A migrated, empty database of its own: in-memory PGlite, or a new PostgreSQL database dropped on close. */
export async function openTestDb(engine: Engine): Promise<{ db: Db; url: string | null; drop: () => Promise<void> }> {
  if (engine === 'pglite') {
    let pglite = idle.pop()
    while (pglite?.closed) pglite = idle.pop()
    pglite ??= await PGlite.create({ ...PGLITE_OPTIONS, loadDataDir: await migratedImage() })
    const db = pgliteDb(pglite)
    return { db, url: null, drop: () => givenBack(pglite) }
  }
  const { url, drop } = await createPostgresDatabase(await migratedTemplate())
  const db = await openDb({ databaseUrl: url, dataDir: null })
  return {
    db,
    url,
    drop: async () => {
      await db.close()
      await drop()
    },
  }
}

const databaseUrl = (name: string) => {
  const url = new URL(postgresUrl!)
  url.pathname = `/${name}`
  return url.toString()
}

// Any constant works; it only has to be the same in every test process.
const TEMPLATE_LOCK = 7_210_514_002

/**
 * A freshly migrated PostgreSQL database that openTestDb copies (CREATE DATABASE … TEMPLATE)
 * instead of migrating each new database, which takes two to three times as long. Named by
 * the schema key and kept on the server for later runs; the first test process to need it
 * makes it under an advisory lock, under another name until it is complete.
 */
let template: Promise<string> | null = null
function migratedTemplate(): Promise<string> {
  template ??= (async () => {
    const name = `foyer_tpl_${schemaKey()}`
    const admin = new pg.Client({ connectionString: postgresUrl! })
    await admin.connect()
    try {
      await admin.query('select pg_advisory_lock($1)', [TEMPLATE_LOCK])
      if ((await admin.query('select 1 from pg_database where datname = $1', [name])).rowCount === 0) {
        const making = `${name}_${randomBytes(4).toString('hex')}`
        await admin.query(`create database ${making}`)
        const db = await openDb({ databaseUrl: databaseUrl(making), dataDir: null })
        try {
          await migrate(db)
        } finally {
          await db.close()
        }
        await admin.query(`alter database ${making} rename to ${name}`)
      }
    } finally {
      // Ending the session releases the lock.
      await admin.end()
    }
    return name
  })()
  return template
}

/** A fresh PostgreSQL database on the TEST_DATABASE_URL server: empty, or a copy of `template`. */
export async function createPostgresDatabase(template?: string): Promise<{ url: string; drop: () => Promise<void> }> {
  if (!postgresUrl) throw new Error('TEST_DATABASE_URL is not set')
  const name = `foyer_t_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({ connectionString: postgresUrl })
  await admin.connect()
  await admin.query(`create database ${name}${template ? ` template ${template}` : ''}`)
  // Tests end Foyer processes, never the database server: a commit need not wait for the WAL's
  // flush to disk (2 ms each on this kind of machine, thousands of them in a run).
  await admin.query(`alter database ${name} set synchronous_commit = off`)
  await admin.end()
  return {
    url: databaseUrl(name),
    drop: async () => {
      const c = new pg.Client({ connectionString: postgresUrl })
      await c.connect()
      await c.query(`drop database if exists ${name} with (force)`)
      await c.end()
    },
  }
}
