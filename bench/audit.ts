import pg from 'pg'
import { runLoad, type LoadResult, type LoadSpec } from './load.js'
import { watchPostgres } from './pg-watch.js'

/** Pairs of create loads, one with the audit log written and one without. */
export const AUDIT_PAIRS = Number(process.env.BENCH_AUDIT_PAIRS ?? 10)

export interface AuditResult {
  /** Every load, in the order it ran. */
  runs: { withAudit: boolean; result: LoadResult }[]
  /** Mean req/s of each side. */
  rps: { on: number; off: number }
  /**
   * CPU per create of each side, in µs, Foyer's and PostgreSQL's (every postgres process), and
   * WAL per create in bytes: what the log costs, steadier than a rate on a shared machine.
   */
  cost: { on: Cost; off: Cost }
}

export interface Cost { foyerUs: number; postgresUs: number; walBytes: number }

/**
 * The cost of the audit log on creates. Every create's record is kept in its event's outbox row
 * by the trigger on the outbox, and moved into the log by the outbox worker's claim, which runs
 * in the same process during the load (src/platform/migrations/035_audit_rides_the_outbox.sql);
 * with the trigger disabled, the create is what it was before the log existed, but for the
 * request's context left in the event's payload, and the claim finds no record to move. The two
 * sides take turns on one process and one database, in the order off, on, on, off, off, on, …,
 * so that a drift of the machine or of the table's size over the run falls on both alike.
 * Between loads the outbox is drained, so no load pays for the one before.
 */
export async function benchAudit(options: {
  databaseUrl: string
  load: () => LoadSpec
  drain: () => Promise<number>
  log: (line: string) => void
  name: string
  foyerPid: number
}): Promise<AuditResult> {
  const client = new pg.Client({ connectionString: options.databaseUrl })
  await client.connect()
  const audit = async (on: boolean) => client.query(`alter table outbox ${on ? 'enable' : 'disable'} trigger outbox_audit`)
  const runs: AuditResult['runs'] = []
  const spent = { on: { foyer: 0, postgres: 0, wal: 0, requests: 0 }, off: { foyer: 0, postgres: 0, wal: 0, requests: 0 } }
  try {
    for (let i = 0; i < AUDIT_PAIRS * 2; i++) {
      const withAudit = i % 4 === 1 || i % 4 === 2
      await audit(withAudit)
      await runLoad({ ...options.load(), seconds: 2 })
      const watch = await watchPostgres(options.databaseUrl, options.foyerPid)
      const result = await runLoad(options.load())
      const watched = await watch.stop()
      runs.push({ withAudit, result })
      const side = spent[withAudit ? 'on' : 'off']
      side.foyer += watched.foyerCpuSeconds
      side.postgres += watched.postgresCpuSeconds
      side.wal += watched.walMb * 1048576
      side.requests += result.requests
      options.log(`${options.name}: create, audit ${withAudit ? 'on ' : 'off'} (${i + 1} of ${AUDIT_PAIRS * 2}): ${result.rps.toFixed(0)} req/s, p99 ${result.p99} ms, ${result.failures} errors/non-2xx`)
      options.log(`${options.name}: outbox drained (${await options.drain()} items left)`)
    }
  } finally {
    await audit(true).catch(() => {})
    await client.end()
  }
  const mean = (withAudit: boolean) => {
    const side = runs.filter((r) => r.withAudit === withAudit)
    return side.reduce((sum, r) => sum + r.result.rps, 0) / side.length
  }
  const cost = (s: typeof spent.on): Cost => ({ foyerUs: s.foyer / s.requests * 1e6, postgresUs: s.postgres / s.requests * 1e6, walBytes: s.wal / s.requests })
  return { runs, rps: { on: mean(true), off: mean(false) }, cost: { on: cost(spent.on), off: cost(spent.off) } }
}
