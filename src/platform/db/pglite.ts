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

  return {
    engine: 'pglite',
    ...wrap(pg),
    // PGlite runs one statement at a time and its transaction() holds the engine, so writers serialise.
    transaction: (fn) => pg.transaction((tx) => fn(wrap(tx))),
    close: async () => {
      if (!pg.closed) await pg.close()
    },
  }
}
