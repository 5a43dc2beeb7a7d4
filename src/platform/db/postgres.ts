import { createHash } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import type { Db, Queryable } from './db.js'

// Timestamps are bigint Unix ms; they fit a JS number exactly, as PGlite already returns them.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value))

// Named statements are parsed and planned once per connection instead of on every call;
// the stores' SQL is a small fixed set, so the per-connection cache stays small.
const names = new Map<string, string>()
function statementName(sql: string): string {
  let name = names.get(sql)
  if (!name) {
    name = 'foyer_' + createHash('sha1').update(sql).digest('hex').slice(0, 20)
    names.set(sql, name)
  }
  return name
}

const DEADLOCK_DETECTED = '40P01'
const DEADLOCK_ATTEMPTS = 3

export async function openPostgres(connectionString: string, poolSize = 16): Promise<Db> {
  // Both pools.
  const common = {
    connectionString,
    // A connection PostgreSQL has just started is slow for its first statements: its server
    // process loads the catalogs and plans each statement once (measured: a create load on
    // new connections ran its first second at a third of its rate). pg closes idle
    // connections after 10 s by default, so every lull longer than that would be followed by
    // such a second; connections live through the quiet minutes of an ordinary day instead.
    idleTimeoutMillis: 10 * 60_000,
    // Idle connections alone do not keep a process alive (a script that opened the database
    // ends when its work does, as it did when they closed after 10 s).
    allowExitOnIdle: true,
  }
  const pool = new pg.Pool({
    ...common,
    max: poolSize,
    // Without this, PostgreSQL plans some named statements afresh on every call (its
    // custom-versus-generic heuristic keeps choosing custom for the list's page-and-total
    // query), which measured ~40% of the server's time per list. Every statement here is keyed
    // by instance and id, with index paths that do not depend on the parameter values, so the
    // one cached generic plan is the right plan.
    options: '-c plan_cache_mode=force_generic_plan',
  })
  // Text searches are planned for their text (a rare fragment through its trigram index, a
  // common one read in the page's order until the page fills). These connections plan every
  // statement that way, so a search outside a transaction is one round trip, where a
  // transaction on the main pool that sets the mode for it took three.
  const searchPoolSize = Math.max(2, Math.ceil(poolSize / 4))
  const searchPool = new pg.Pool({ ...common, max: searchPoolSize, options: '-c plan_cache_mode=force_custom_plan' })
  // An idle client that loses its server must not crash the process; the pool replaces it.
  pool.on('error', () => {})
  searchPool.on('error', () => {})
  await pool.query('select 1')

  const named = (sql: string, params: readonly unknown[]) => ({ name: statementName(sql), text: sql, values: params as unknown[] })
  const wrap = (q: pg.Pool | pg.PoolClient, inTransaction: boolean): Queryable => ({
    query: async (sql, params) => (await q.query(params?.length ? named(sql, params) : sql)).rows,
    // The pool's connections force generic plans (above): within a transaction the mode is set
    // for this one statement; outside one, the search pool's connections plan each statement.
    queryCustomPlan: async (sql, params) => {
      if (!inTransaction) return (await searchPool.query(named(sql, params))).rows
      await q.query('set local plan_cache_mode = force_custom_plan')
      const { rows } = await q.query(named(sql, params))
      await q.query('set local plan_cache_mode to default')
      return rows
    },
    exec: async (sql) => {
      await q.query(sql)
    },
  })

  return {
    engine: 'postgres',
    ...wrap(pool, false),
    transaction: async (fn) => {
      for (let attempt = 1; ; attempt++) {
        // The survivor of a deadlock wakes only when the scheduler gets to it; a retry that starts
        // at once can take the row the survivor waits for and deadlock with it again. A short
        // random pause lets the survivor finish first.
        if (attempt > 1) await sleep(5 + Math.random() * 20 * attempt)
        const client = await pool.connect()
        let broken: Error | undefined
        try {
          await client.query('begin')
          const result = await fn(wrap(client, true))
          await client.query('commit')
          return result
        } catch (err) {
          await client.query('rollback').catch((rollbackErr: Error) => {
            broken = rollbackErr
          })
          // PostgreSQL picked this transaction to break a deadlock and rolled it back whole:
          // running it again is safe, and the other one has meanwhile gone through. (Two
          // sign-ups can lock two organizations in opposite orders: one joins by invitation,
          // then is enrolled in another by its verified domain.)
          if ((err as { code?: string }).code === DEADLOCK_DETECTED && attempt < DEADLOCK_ATTEMPTS && !broken) continue
          throw err
        } finally {
          // A client whose rollback failed may be mid-transaction; destroy it rather than reuse it.
          client.release(broken)
        }

      }
    },
    pool: () => ({
      total: pool.totalCount + searchPool.totalCount,
      idle: pool.idleCount + searchPool.idleCount,
      waiting: pool.waitingCount + searchPool.waitingCount,
      max: poolSize + searchPoolSize,
    }),
    close: async () => {
      await Promise.all([pool.ending ? null : pool.end(), searchPool.ending ? null : searchPool.end()])
    },
  }
}
