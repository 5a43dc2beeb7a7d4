/**
 * `foyer import` of a large CSV file against a Foyer on PostgreSQL, rate limits lifted: the
 * tool as a person runs it (a child process, the compiled tool), timed from its start to its
 * exit, every row checked to be created.
 */
import { spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { packageRoot } from '../src/platform/paths.js'
import type { Server } from './servers.js'

export const IMPORT_ROWS = Number(process.env.BENCH_IMPORT_ROWS ?? 10_000)
export const IMPORT_TARGET_SECONDS = 30
const IMPORT_TIMEOUT_MS = 300_000

export interface ImportResult {
  rows: number
  created: number
  seconds: number
  concurrency: number
}

export async function benchImport(options: {
  start: () => Promise<Server>
  prepare: (server: Server) => Promise<void>
  secretKey: string
  tmp: string
  runId: string
  log: (line: string) => void
}): Promise<ImportResult> {
  const server = await options.start()
  options.log(`import: ${server.name} pid ${server.pid} on ${server.url}`)
  try {
    await options.prepare(server)
    const file = join(options.tmp, 'import.csv')
    const lines = ['email_address,meta.row']
    for (let i = 0; i < IMPORT_ROWS; i++) lines.push(`import.${options.runId}.${i}@bench.example.com,${i}`)
    writeFileSync(file, lines.join('\n') + '\n')
    const concurrency = 4
    const started = performance.now()
    const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [join(packageRoot, 'dist', 'src', 'cli', 'main.js'), 'import', file, '--no-email', '--concurrency', String(concurrency)], {
        cwd: options.tmp,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', FOYER_API_URL: server.url, FOYER_SECRET_KEY: options.secretKey },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let output = ''
      child.stdout.on('data', (chunk) => { output += chunk })
      child.stderr.on('data', (chunk) => { output += chunk })
      const timer = setTimeout(() => child.kill('SIGKILL'), IMPORT_TIMEOUT_MS)
      child.on('error', reject)
      child.on('close', (exit) => {
        clearTimeout(timer)
        resolve({ code: exit, output })
      })
    })
    const seconds = (performance.now() - started) / 1000
    const created = readFileSync(`${file}.result.csv`, 'utf8').split('\n').filter((line) => line.endsWith(',created')).length
    if (code !== 0 || created !== IMPORT_ROWS) throw new Error(`import: the tool exited ${code} with ${created} of ${IMPORT_ROWS} rows created:\n${output.slice(-2000)}`)
    options.log(`import: ${IMPORT_ROWS} rows in ${seconds.toFixed(1)} s (${(IMPORT_ROWS / seconds).toFixed(0)} rows/s), concurrency ${concurrency}`)
    return { rows: IMPORT_ROWS, created, seconds, concurrency }
  } finally {
    await server.stop()
  }
}
