import pg from 'pg'
import { runLoad, type LoadResult, type LoadSpec } from './load.js'
import type { Server } from './servers.js'
import { watchPostgres, type PgMinute } from './pg-watch.js'

/** Minutes of the sustained create load (the target is judged on its first and last). */
export const SUSTAIN_MINUTES = Number(process.env.BENCH_SUSTAIN_MINUTES ?? 5)
/** The first seconds after a start that are measured as they come, without a warm-up. */
export const COLD_SECONDS = 10

export interface StaminaResult {
  cold: LoadResult
  minutes: LoadResult[]
  /** What PostgreSQL and the machine did in each sustained minute. */
  watched: PgMinute[]
  /** The autovacuum setting the sustained load ran with, and how it came to be. */
  autovacuum: string
  peakRssMb: number
}

/**
 * Turns autovacuum on for the sustained load, as production servers run it, when the server
 * has it off (this machine's CI configuration does); answers how to put it back. A server
 * that refuses (not a superuser) keeps its setting, and the results say which it was.
 */
async function autovacuumOn(adminUrl: string, log: (line: string) => void): Promise<{ setting: string; restore: () => Promise<void> }> {
  const admin = new pg.Client({ connectionString: adminUrl })
  await admin.connect()
  const show = async () => (await admin.query<{ autovacuum: string }>('show autovacuum')).rows[0]!.autovacuum
  try {
    if (await show() === 'on') return { setting: 'on (the server\'s own setting)', restore: async () => {} }
    await admin.query('alter system set autovacuum = on')
    await admin.query('select pg_reload_conf()')
    for (let i = 0; i < 50 && await show() !== 'on'; i++) await new Promise((resolve) => setTimeout(resolve, 100))
    const now = await show()
    log(`PostgreSQL: autovacuum ${now} for the sustained load (ALTER SYSTEM; reset afterwards)`)
    return {
      setting: now === 'on' ? 'on (turned on by the bench for this load, reset afterwards)' : 'off (could not be turned on)',
      restore: async () => {
        const c = new pg.Client({ connectionString: adminUrl })
        await c.connect()
        try {
          await c.query('alter system reset autovacuum')
          await c.query('select pg_reload_conf()')
        } finally {
          await c.end()
        }
      },
    }
  } catch (err) {
    log(`PostgreSQL: autovacuum stays off (${(err as Error).message})`)
    return { setting: 'off (the bench may not change it)', restore: async () => {} }
  } finally {
    await admin.end()
  }
}

/**
 * Slow start and decay, on a Foyer process started for it: the create load in its first
 * COLD_SECONDS, with nothing before it but lifting the rate limit (no probe, no warm-up), then
 * SUSTAIN_MINUTES one-minute create loads back to back on the same process, with autovacuum
 * on. Dead rows piling up (the outbox's delivered events, the sharded counts) would show as
 * later minutes running slower than the first.
 */
export async function benchStamina(opts: {
  adminUrl: string
  /** The bench database, watched during each sustained minute. */
  databaseUrl: string
  start: () => Promise<Server>
  prepare: (server: Server) => Promise<void>
  load: (server: Server) => LoadSpec
  log: (line: string) => void
}): Promise<StaminaResult> {
  const { log } = opts
  const server = await opts.start()
  const vacuum = await autovacuumOn(opts.adminUrl, log).catch((err: Error) => ({ setting: `off (${err.message})`, restore: async () => {} }))
  try {
    await opts.prepare(server)
    log(`${server.name}: create, the first ${COLD_SECONDS} s after a start …`)
    const cold = await runLoad({ ...opts.load(server), seconds: COLD_SECONDS })
    log(`${server.name}: create, first ${COLD_SECONDS} s: ${cold.rps.toFixed(0)} req/s, p50 ${cold.p50} ms, p99 ${cold.p99} ms, ${cold.failures} errors/non-2xx`)
    const minutes: LoadResult[] = []
    const watched: PgMinute[] = []
    for (let minute = 1; minute <= SUSTAIN_MINUTES; minute++) {
      const watch = await watchPostgres(opts.databaseUrl, server.pid)
      const result = await runLoad({ ...opts.load(server), seconds: 60 })
      const w = await watch.stop()
      log(`${server.name}: create, sustained minute ${minute} of ${SUSTAIN_MINUTES}: ${result.rps.toFixed(0)} req/s, p50 ${result.p50} ms, p99 ${result.p99} ms, ${result.failures} errors/non-2xx`)
      log(`  CPU s: Foyer ${w.foyerCpuSeconds.toFixed(1)}, PostgreSQL ${w.postgresCpuSeconds.toFixed(1)}; autovacuum ${w.autovacuumSeconds} s (${w.autovacuumTables.join(', ') || 'none'}); `
        + `WAL ${w.walMb.toFixed(0)} MB, ${w.checkpoints} checkpoints; buffer misses ${w.readsPerThousandHits.toFixed(1)}‰; `
        + `invitations ${w.invitationsMb.toFixed(0)} MB + indexes ${w.invitationIndexesMb.toFixed(0)} MB; dead rows: invitations ${w.deadInvitations}, outbox ${w.deadOutbox}`)
      minutes.push(result)
      watched.push(w)
    }
    const peakRssMb = server.peakRssMb()
    return { cold, minutes, watched, autovacuum: vacuum.setting, peakRssMb }
  } finally {
    await vacuum.restore()
    await server.stop()
  }
}
