/**
 * An application built on Clerk's own `@clerk/express`, as a real child process
 * (test/fixtures/clerk-express-app.mjs): the SDK reads its configuration from the environment
 * when it loads, exactly as in a user's app, so each configuration is a process of its own.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { packageRoot } from '../../src/platform/paths.js'

/** Not compiled: run from the sources, where it is found from dist/ and from test/ alike. */
export const CLERK_APP_FIXTURE = join(packageRoot, 'test', 'fixtures', 'clerk-express-app.mjs')

export interface ClerkAppConfig {
  secretKey: string
  publishableKey: string
  /** Foyer's Backend API base (CLERK_API_URL): where the SDK fetches the JWKS and handshake payloads. */
  apiUrl: string
  /** Foyer's Frontend API base for the instance (CLERK_PROXY_URL): where the SDK sends browsers to handshake. */
  proxyUrl: string
}

export interface ClerkApp {
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  readonly url: string
  /** stdout and stderr so far, for failure messages. */
  output(): string
  stop(): Promise<void>
}

/** What the app's `GET /me` answers: `getAuth(req)`'s fields, null when absent. */
export interface AppAuth {
  userId: string | null
  sessionId: string | null
  orgId: string | null
  orgRole: string | null
  orgSlug: string | null
}

export const SIGNED_OUT: AppAuth = { userId: null, sessionId: null, orgId: null, orgRole: null, orgSlug: null }

const alive = new Set<ChildProcess>()
// A test that times out never reaches its `after`: its apps must still not outlive it.
process.once('exit', () => {
  for (const child of alive) child.kill('SIGKILL')
})

/**
 * Starts the app with only Clerk's variables set (none of the test runner's CLERK_* or Node
 * options leak in) and resolves once it prints its port.
 */
export async function startClerkApp(config: ClerkAppConfig, timeoutMs = 30_000): Promise<ClerkApp> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(CLERK_.*|NODE_OPTIONS|NODE_TEST_CONTEXT|NODE_ENV)$/.test(k)))
  const child = spawn(process.execPath, [CLERK_APP_FIXTURE], {
    cwd: packageRoot,
    env: {
      ...base,
      CLERK_SECRET_KEY: config.secretKey,
      CLERK_PUBLISHABLE_KEY: config.publishableKey,
      CLERK_API_URL: config.apiUrl,
      CLERK_PROXY_URL: config.proxyUrl,
      // Development keys would otherwise post telemetry to clerk-telemetry.com.
      CLERK_TELEMETRY_DISABLED: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  alive.add(child)
  let out = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => { out += chunk })
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { out += chunk })
  const exited = new Promise<void>((resolve) => child.once('exit', () => {
    alive.delete(child)
    resolve()
  }))

  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`the Express app did not start within ${timeoutMs} ms:\n${out}`))
    }, timeoutMs)
    const onData = () => {
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out)
      if (!m) return
      clearTimeout(timer)
      child.stdout!.off('data', onData)
      resolve(Number(m[1]))
    }
    child.stdout!.on('data', onData)
    void exited.then(() => {
      clearTimeout(timer)
      reject(new Error(`the Express app exited before listening:\n${out}`))
    })
  })

  return {
    url: `http://127.0.0.1:${port}`,
    output: () => out,
    stop: async () => {
      child.kill('SIGTERM')
      await exited
    },
  }
}

/** The app's `GET /me` with `headers`, as a server-side client (no browser headers): must answer 200. */
export async function whoAmI(app: ClerkApp, headers: Record<string, string> = {}): Promise<AppAuth> {
  const res = await fetch(`${app.url}/me`, { headers, redirect: 'manual', signal: AbortSignal.timeout(15_000) })
  const text = await res.text()
  assert.equal(res.status, 200, `GET /me: ${res.status} ${text}\n${app.output()}`)
  return JSON.parse(text) as AppAuth
}
