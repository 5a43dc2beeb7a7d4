/**
 * Foyer as a real child process, for tests that need what app.inject cannot give: a real
 * port, real signals, a process that can die.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { packageRoot as repoRoot } from '../../src/platform/paths.js'
import { seedPgliteDataDir } from './databases.js'

const here = fileURLToPath(import.meta.url)
export { repoRoot }

/**
 * The child runs the same build as the test: compiled dist/ under `npm test`, the sources
 * through tsx when the test file itself is TypeScript. Otherwise a stale dist/ could pass
 * (or fail) a test for code that no longer exists.
 */
export function foyerCommand(): { command: string; args: string[] } {
  if (here.endsWith('.ts')) {
    // Resolved here, not by the child: the child runs in a temporary folder (see startFoyer)
    // from where a bare `tsx` would not resolve.
    return { command: process.execPath, args: ['--import', import.meta.resolve('tsx'), join(repoRoot, 'src', 'main.ts')] }
  }
  return { command: process.execPath, args: [join(repoRoot, 'dist', 'src', 'main.js')] }
}

const alnum = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
export const randomSecretKey = () => 'sk_test_' + Array.from(randomBytes(32), (b) => alnum[b % alnum.length]).join('')
export const randomServerSecret = () => randomBytes(32).toString('hex')

// Variables Foyer reads (the README's Configuration table), plus node:test's own: none of the test runner's
// environment may leak into the child and change which database or mode it uses.
const STRIPPED = /^(PORT|HOST|DATABASE_URL|REDIS_URL|SMTP_URL|EMAIL_FROM|LOG_LEVEL|FOYER_.*|NODE_TEST_CONTEXT|NODE_OPTIONS)$/

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface FoyerProcess {
  readonly child: ChildProcess
  readonly port: number
  readonly baseUrl: string
  /** Resolves when the process has exited, however it ended. */
  readonly exited: Promise<Exit>
  /** stdout and stderr so far, for failure messages. */
  output(): string
  /** SIGKILL, then waits for the exit. */
  kill(): Promise<Exit>
  /** SIGTERM and waits for a clean exit; SIGKILLs and throws if it takes longer than `timeoutMs`. */
  stop(timeoutMs?: number): Promise<Exit>
}

const alive = new Set<ChildProcess>()
// A test that times out keeps running after its hooks; a child it starts then must still not
// outlive the test process.
process.once('exit', () => killAllFoyers())

/** For `after` hooks: whatever a failed test left running must not outlive the suite. */
export function killAllFoyers(): void {
  for (const child of alive) child.kill('SIGKILL')
  alive.clear()
}

export interface StartOptions {
  /** Working folder of the child; a folder without a `.env`, so that only `env` configures it. */
  cwd: string
  timeoutMs?: number
  /** Start PGlite from an empty data folder (initdb and every migration), as a first `npm start` does. */
  emptyDataDir?: boolean
}

/**
 * Starts Foyer with exactly `env` on top of a cleaned environment and resolves once it
 * prints `Foyer listening on http://…:<port>`.
 */
// A first start on PGlite runs every migration in WebAssembly: on a 2-core machine busy with
// other tests it has taken over 30 s, so only a start that hangs outright should fail here.
export async function startFoyer(env: Record<string, string>, { cwd, timeoutMs = 90_000, emptyDataDir = false }: StartOptions): Promise<FoyerProcess> {
  const pgdata = join(resolve(cwd, env.FOYER_DATA_DIR ?? '.foyer'), 'pgdata')
  if (!env.DATABASE_URL && !emptyDataDir && !existsSync(pgdata)) await seedPgliteDataDir(pgdata)
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !STRIPPED.test(k)))
  const { command, args } = foyerCommand()
  const child = spawn(command, args, { cwd, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  alive.add(child)

  let out = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => { out += chunk })
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { out += chunk })
  const exited = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => {
      alive.delete(child)
      resolve({ code, signal })
    })
  })

  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`Foyer did not start within ${timeoutMs} ms:\n${out}`))
    }, timeoutMs)
    const onData = () => {
      const m = /Foyer listening on http:\/\/[^\s:]+:(\d+)/.exec(out)
      if (!m) return
      clearTimeout(timer)
      child.stdout!.off('data', onData)
      resolve(Number(m[1]))
    }
    child.stdout!.on('data', onData)
    void exited.then((exit) => {
      clearTimeout(timer)
      reject(new Error(`Foyer exited before listening (${exit.signal ?? exit.code}):\n${out}`))
    })
  })

  const waitExit = async (ms: number): Promise<Exit | null> => {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<null>((resolve) => { timer = setTimeout(() => resolve(null), ms) })
    try {
      return await Promise.race([exited, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  return {
    child,
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    exited,
    output: () => out,
    kill: async () => {
      child.kill('SIGKILL')
      return exited
    },
    stop: async (ms = 15_000) => {
      child.kill('SIGTERM')
      const exit = await waitExit(ms)
      if (exit) return exit
      child.kill('SIGKILL')
      await exited
      throw new Error(`Foyer did not exit within ${ms} ms of SIGTERM:\n${out}`)
    },
  }
}

/** One JSON call to a Foyer child as an instance; anything but a 200 fails the test with its answer. */
export async function api<T>(server: FoyerProcess, secretKey: string, method: string, path: string, body?: unknown, timeoutMs = 15_000): Promise<T> {
  const res = await fetch(server.baseUrl + path, {
    method,
    headers: { authorization: `Bearer ${secretKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(timeoutMs),
  })
  const text = await res.text()
  assert.equal(res.status, 200, `${method} ${path}: ${res.status} ${text}`)
  return JSON.parse(text) as T
}
