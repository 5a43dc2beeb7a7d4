import { mkdirSync } from 'node:fs'
import { PGlite, type Transaction } from '@electric-sql/pglite'
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm'
import type { Db, Queryable } from './db.js'

/**
 * What every PGlite of Foyer's opens with: the extensions its migrations create (pg_trgm for
 * search, migration 027). An extension is loaded when the engine starts, so a PGlite opened
 * without one cannot read an index that needs it.
 */
export const PGLITE_OPTIONS = { extensions: { pg_trgm } }

export async function openPglite(dataDir: string | null): Promise<Db> {
  if (dataDir) mkdirSync(dataDir, { recursive: true })
  return pgliteDb(await PGlite.create(dataDir ?? undefined, PGLITE_OPTIONS))
}

/** The Db over a PGlite already open (tests open theirs from a dumped data folder). */
export function pgliteDb(pg: PGlite): Db {
  const query = async <T>(q: PGlite | Transaction, sql: string, params?: readonly unknown[]) => (await q.query<T>(sql, params as unknown[] | undefined)).rows
  const wrap = (q: PGlite | Transaction): Queryable => ({
    query: (sql, params) => query(q, sql, params),
    // PGlite prepares no named statements: every statement is planned for its values already.
    queryCustomPlan: (sql, params) => query(q, sql, params),
    exec: async (sql) => {
      await q.exec(sql)
    },
  })

  // PGlite is one connection that runs one thing at a time: whatever is started beyond the one
  // running waits for it, which is what a pool's waiting count says.
  let active = 0
  const counted = <T>(run: () => Promise<T>): Promise<T> => {
    active++
    return run().finally(() => {
      active--
    })
  }
  const top = wrap(pg)

  return {
    engine: 'pglite',
    query: <T>(sql: string, params?: readonly unknown[]) => counted(() => top.query<T>(sql, params)),
    queryCustomPlan: <T>(sql: string, params: readonly unknown[]) => counted(() => top.queryCustomPlan<T>(sql, params)),
    exec: (sql) => counted(() => top.exec(sql)),
    // PGlite runs one statement at a time and its transaction() holds the engine, so writers serialise.
    transaction: (fn) => counted(() => pg.transaction((tx) => fn(wrap(tx)))),
    pool: () => ({ total: pg.closed ? 0 : 1, idle: active === 0 && !pg.closed ? 1 : 0, waiting: Math.max(0, active - 1), max: 1 }),
    close: async () => {
      if (!pg.closed) await pg.close()
    },
  }
}
