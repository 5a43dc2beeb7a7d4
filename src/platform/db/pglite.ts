import { mkdirSync } from 'node:fs'
import { PGlite, type Transaction } from '@electric-sql/pglite'
import type { Db, Queryable } from './db.js'

export async function openPglite(dataDir: string | null): Promise<Db> {
  if (dataDir) mkdirSync(dataDir, { recursive: true })
  return pgliteDb(await PGlite.create(dataDir ?? undefined))
}

/** The Db over a PGlite already open (tests open theirs from a dumped data folder). */
export function pgliteDb(pg: PGlite): Db {
  const wrap = (q: PGlite | Transaction): Queryable => ({
    query: async <T>(sql: string, params?: readonly unknown[]) => (await q.query<T>(sql, params as unknown[] | undefined)).rows,
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
