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
    exec: (sql) => counted(() => top.exec(sql)),
    // PGlite runs one statement at a time and its transaction() holds the engine, so writers serialise.
    transaction: (fn) => counted(() => pg.transaction((tx) => fn(wrap(tx)))),
    pool: () => ({ total: pg.closed ? 0 : 1, idle: active === 0 && !pg.closed ? 1 : 0, waiting: Math.max(0, active - 1), max: 1 }),
    close: async () => {
      if (!pg.closed) await pg.close()
    },
  }
}
