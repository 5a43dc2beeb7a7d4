import { readFileSync, readdirSync } from 'node:fs'
import pg from 'pg'

/** What PostgreSQL and the machine did during one stretch of a load, to explain a change in its rate. */
export interface PgMinute {
  /** Seconds in which an autovacuum worker was at work, and on which tables. */
  autovacuumSeconds: number
  autovacuumTables: string[]
  /** CPU seconds used by the Foyer process, and by every PostgreSQL process, in the stretch. */
  foyerCpuSeconds: number
  postgresCpuSeconds: number
  /** WAL written, in MB, and checkpoints begun. */
  walMb: number
  checkpoints: number
  /** Shared-buffer misses (blocks read from the OS) per 1,000 hits, in the bench database. */
  readsPerThousandHits: number
  /** Size of the invitations table and of its indexes at the end, in MB. */
  invitationsMb: number
  invitationIndexesMb: number
  /** Dead rows at the end, in the invitations and outbox tables. */
  deadInvitations: number
  deadOutbox: number
}

const TICKS = 100 // USER_HZ on Linux

/** CPU seconds (user + system) of every process named `comm` (or one pid), read from /proc. */
function cpuSeconds(match: (pid: number, comm: string) => boolean): Map<number, number> {
  const seconds = new Map<number, number>()
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry)
    if (!Number.isInteger(pid)) continue
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const close = stat.lastIndexOf(')')
      const comm = stat.slice(stat.indexOf('(') + 1, close)
      if (!match(pid, comm)) continue
      const fields = stat.slice(close + 2).split(' ')
      seconds.set(pid, (Number(fields[11]) + Number(fields[12])) / TICKS)
    } catch {
      // gone between the listing and the read
    }
  }
  return seconds
}

/** CPU used between two readings, counting processes that started in between from zero. */
function used(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0
  for (const [pid, s] of after) total += s - (before.get(pid) ?? 0)
  return total
}

/**
 * Samples PostgreSQL once a second while a load runs: whether autovacuum is working and on
 * what, and at the end the counters that say where the time went (CPU of each side, WAL,
 * checkpoints, buffer misses, table and index growth, dead rows). Autovacuum workers that
 * start and end between two samples are missed, so its seconds are a floor.
 */
export async function watchPostgres(databaseUrl: string, foyerPid: number): Promise<{ stop(): Promise<PgMinute> }> {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  const counters = async () => {
    const { rows } = await client.query<{ wal: string; checkpoints: string; hits: string; reads: string }>(`
      select pg_current_wal_lsn() - '0/0'::pg_lsn as wal,
             (select checkpoints_timed + checkpoints_req from pg_stat_bgwriter) as checkpoints,
             (select blks_hit from pg_stat_database where datname = current_database()) as hits,
             (select blks_read from pg_stat_database where datname = current_database()) as reads`)
    return { wal: Number(rows[0]!.wal), checkpoints: Number(rows[0]!.checkpoints), hits: Number(rows[0]!.hits), reads: Number(rows[0]!.reads) }
  }
  const postgresCpu = () => cpuSeconds((_pid, comm) => comm === 'postgres')
  const foyerCpu = () => cpuSeconds((pid) => pid === foyerPid)
  const start = { counters: await counters(), postgres: postgresCpu(), foyer: foyerCpu() }
  let autovacuumSeconds = 0
  const tables = new Set<string>()
  let sampling = Promise.resolve()
  const timer = setInterval(() => {
    sampling = sampling.then(async () => {
      const { rows } = await client.query<{ query: string }>(`select query from pg_stat_activity where backend_type = 'autovacuum worker'`)
      if (rows.length > 0) autovacuumSeconds++
      for (const { query } of rows) tables.add(query.replace(/^autovacuum:\s*/, '').replace(/\s+\S+\.(\w+).*$/, ' $1'))
    }).catch(() => {})
  }, 1000)

  return {
    async stop() {
      clearInterval(timer)
      await sampling
      const end = { counters: await counters(), postgres: postgresCpu(), foyer: foyerCpu() }
      const { rows: [sizes] } = await client.query<{ table_mb: string; indexes_mb: string; dead_invitations: string; dead_outbox: string }>(`
        select pg_table_size('invitations') / 1048576.0 as table_mb,
               pg_indexes_size('invitations') / 1048576.0 as indexes_mb,
               (select n_dead_tup from pg_stat_user_tables where relname = 'invitations') as dead_invitations,
               (select n_dead_tup from pg_stat_user_tables where relname = 'outbox') as dead_outbox`)
      await client.end()
      const hits = end.counters.hits - start.counters.hits
      return {
        autovacuumSeconds,
        autovacuumTables: [...tables],
        foyerCpuSeconds: used(start.foyer, end.foyer),
        postgresCpuSeconds: used(start.postgres, end.postgres),
        walMb: (end.counters.wal - start.counters.wal) / 1048576,
        checkpoints: end.counters.checkpoints - start.counters.checkpoints,
        readsPerThousandHits: hits > 0 ? (end.counters.reads - start.counters.reads) / hits * 1000 : 0,
        invitationsMb: Number(sizes!.table_mb),
        invitationIndexesMb: Number(sizes!.indexes_mb),
        deadInvitations: Number(sizes!.dead_invitations),
        deadOutbox: Number(sizes!.dead_outbox),
      }
    },
  }
}
