import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Db } from './db.js'
import { packageRoot } from '../paths.js'

const MIGRATIONS_DIR = join(packageRoot, 'src', 'platform', 'migrations')
// Any constant works; it only has to be the same in every Foyer process.
const MIGRATION_LOCK = 7_210_514_001

/**
 * Applies every numbered migration not yet recorded, each in its own transaction. Several
 * processes starting together on one PostgreSQL take turns through an advisory lock.
 */
export async function migrate(db: Db, dir = MIGRATIONS_DIR): Promise<string[]> {
  const files = readdirSync(dir).filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f)).sort()
  // Every start runs this: one read, without the lock, settles the usual case of nothing to do.
  // A file it calls pending is checked again under the lock below, so a race only costs a step.
  const recorded = await recordedVersions(db)
  const applied: string[] = []
  for (const file of files.filter((f) => !recorded.has(f.slice(0, 3)))) {
    const version = file.slice(0, 3)
    const ran = await db.transaction(async (tx) => {
      await tx.query('select pg_advisory_xact_lock($1)', [MIGRATION_LOCK])
      await tx.exec('create table if not exists schema_migrations (version text primary key, name text not null, applied_at bigint not null)')
      const done = await tx.query('select 1 from schema_migrations where version = $1', [version])
      if (done.length > 0) return false
      await tx.exec(readFileSync(join(dir, file), 'utf8'))
      await tx.query('insert into schema_migrations (version, name, applied_at) values ($1, $2, $3)', [version, file, Date.now()])
      return true
    })
    if (ran) applied.push(file)
  }
  return applied
}

async function recordedVersions(db: Db): Promise<Set<string>> {
  const [table] = await db.query<{ present: boolean }>("select to_regclass('schema_migrations') is not null as present")
  if (!table?.present) return new Set()
  return new Set((await db.query<{ version: string }>('select version from schema_migrations')).map((r) => r.version))
}
