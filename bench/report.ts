import { readFileSync } from 'node:fs'
import { cpus, loadavg, totalmem } from 'node:os'
import type { DeliveryResult } from './delivery.js'
import type { LoadResult } from './load.js'

export interface Measured {
  load: string
  server: string
  result: LoadResult
  peakRssMb: number
}

export interface Target {
  name: string
  threshold: string
  /** null when the figures it needs are missing or void. */
  measured: string | null
  met: boolean
}

export function machine(postgresVersion: string, loadAtStart: number): string[] {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8')
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? cpus()[0]?.model ?? 'unknown'
  const count = cpuinfo.match(/^processor\s*:/gm)?.length ?? cpus().length
  const memKb = Number(/^MemTotal:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? totalmem() / 1024)
  return [
    `CPU: ${model} × ${count}`,
    `Memory: ${(memKb / 1024 / 1024).toFixed(1)} GiB`,
    `Node: ${process.version}`,
    `PostgreSQL: ${postgresVersion}`,
    `Date: ${new Date().toISOString()}`,
    // Anything else running skews every figure; this shows whether it did.
    `Load average (1 min): ${loadAtStart.toFixed(2)} at start, ${loadavg()[0]!.toFixed(2)} at end`,
  ]
}

const fixed = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : '—')
export const int = (n: number) => n.toLocaleString('en-US')

export function measurementsTable(rows: Measured[]): string[] {
  return [
    '| load | server | req/s (mean) | p50 ms | p99 ms | errors + non-2xx | server peak RSS MB |',
    '|---|---|---:|---:|---:|---:|---:|',
    ...rows.map(({ load, server, result: r, peakRssMb }) =>
      `| ${load} | ${server} | ${fixed(r.rps)} | ${fixed(r.p50)} | ${fixed(r.p99)} | ${r.failures === 0 ? '0' : `**${int(r.failures)}** (void)`} | ${fixed(peakRssMb)} |`),
  ]
}

export function ratiosTable(ratios: { name: string; value: number | null }[]): string[] {
  return [
    '| ratio of req/s | value |',
    '|---|---:|',
    ...ratios.map((r) => `| ${r.name} | ${r.value === null ? 'void' : `${(r.value * 100).toFixed(0)} %`} |`),
  ]
}

export function targetsTable(targets: Target[]): string[] {
  return [
    '| target | threshold | measured | met |',
    '|---|---|---|---|',
    ...targets.map((t) => `| ${t.name} | ${t.threshold} | ${t.measured ?? 'void'} | ${t.measured === null ? 'not measured' : t.met ? 'yes' : '**no**'} |`),
  ]
}

export function deliveryTable(rows: DeliveryResult[]): string[] {
  return [
    '| delivery | server | items | queued in s (worker held) | delivered in s | per second | duplicates | server peak RSS MB |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
    ...rows.map((d) => `| ${d.what} | ${d.server} | ${d.received < d.queued ? `**${int(d.received)} of ${int(d.queued)}**` : int(d.queued)} `
      + `| ${fixed(d.queueSeconds, 1)} | ${fixed(d.seconds, 2)} | ${fixed(d.perSecond)} | ${int(d.duplicates)} | ${fixed(d.peakRssMb)} |`),
  ]
}

/** Rates measured in the bench process itself, without HTTP: the most an endpoint built on them could reach per core. */
export function ceilingsTable(rows: { name: string; perSecond: number }[]): string[] {
  return [
    '| in-process ceiling | per second |',
    '|---|---:|',
    ...rows.map((r) => `| ${r.name} | ${fixed(r.perSecond)} |`),
  ]
}
