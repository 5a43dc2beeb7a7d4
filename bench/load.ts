import type { IncomingHttpHeaders } from 'node:http'
import net from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import autocannon from 'autocannon'
import { Pool } from 'undici'

export interface LoadSpec {
  url: string
  method: 'GET' | 'POST'
  path: string
  headers?: Record<string, string>
  /** A new body for every request (unique email addresses). */
  body?: () => string
  /** A path for every request, when requests spread over several (the probe uses `path`). */
  nextPath?: () => string
  /** Headers for every request, when they change too (one browser's cookie, then another's); the probe uses `headers`. */
  nextHeaders?: () => Record<string, string>
  /** The class of status every answer must have; anything else voids the figures. 2xx unless said. */
  expect?: '2xx' | '3xx'
  /** Sees every answer's headers (what a redirect carries, kept for a later load). */
  onHeaders?: (headers: IncomingHttpHeaders) => void
  seconds: number
  /** Exactly this many requests instead of `seconds`: each input can be used once. */
  amount?: number
  connections: number
  /**
   * Requests per second offered, evenly paced across up to `connections` connections (see
   * runPacedLoad): an application's steady traffic, rather than as many as the server can take.
   */
  rate?: number
  /**
   * A local address for each new connection (loopback ones, 127.x.y.z), as browsers come from
   * many: a limit per client IP would otherwise count the whole load as one browser's. Each
   * connection also reconnects, from the next address, every RECONNECT_EVERY requests.
   */
  sourceAddress?: () => string
}

// Well below any per-IP limit the loads meet (the handshake's: 1,200 per 15 minutes).
const RECONNECT_EVERY = 500

/**
 * Runs `load` with autocannon's connections bound to `next()`'s addresses. autocannon has no
 * option for it; it calls `net.connect(port, host)`, which is wrapped here while the load runs
 * (the bench runs one load at a time). Connections opened with options, as fetch's, are left alone.
 */
async function fromAddresses<T>(next: () => string, load: () => Promise<T>): Promise<T> {
  const connect = net.connect
  net.connect = ((...args: unknown[]) => ((typeof args[0] === 'number' || typeof args[0] === 'string') && typeof args[1] === 'string'
    ? connect({ port: Number(args[0]), host: args[1], localAddress: next() })
    : (connect as (...a: unknown[]) => net.Socket)(...args))) as typeof net.connect
  try {
    return await load()
  } finally {
    net.connect = connect
  }
}

export interface LoadResult {
  requests: number
  rps: number
  p50: number
  p99: number
  /** Connection errors (timeouts included) and answers of another class than expected: any of them voids the figures. */
  failures: number
  statusCodes: Record<string, number>
}

/** One closed-loop load from this process (no autocannon workers); with `rate`, an open-loop one at that rate. */
export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  if (spec.rate !== undefined) return runPacedLoad({ ...spec, rate: spec.rate })
  const { body, nextPath, nextHeaders, onHeaders, sourceAddress } = spec
  const headers = { ...spec.headers, ...(body ? { 'content-type': 'application/json' } : {}) }
  const run = () => autocannon({
    url: spec.url,
    connections: spec.connections,
    ...(sourceAddress ? { reconnectRate: RECONNECT_EVERY } : {}),
    ...(spec.amount === undefined ? { duration: spec.seconds } : { amount: spec.amount }),
    requests: [{
      method: spec.method,
      path: spec.path,
      headers,
      ...(body || nextPath || nextHeaders ? {
        setupRequest: (request) => ({
          ...request,
          ...(body ? { body: body() } : {}),
          ...(nextPath ? { path: nextPath() } : {}),
          ...(nextHeaders ? { headers: { ...headers, ...nextHeaders() } } : {}),
        }),
      } : {}),
      ...(onHeaders ? { onResponse: (_status, _body, _context, answered) => onHeaders(answered ?? {}) } : {}),
    }],
  })
  const result = sourceAddress ? await fromAddresses(sourceAddress, run) : await run()
  const statusCodes = Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([code, s]) => [code, s.count ?? 0]))
  // autocannon counts anything but 2xx as non2xx; a redirect load expects 3xx instead.
  const unexpected = spec.expect === '3xx'
    ? result['1xx'] + result['2xx'] + result['4xx'] + result['5xx']
    : result.non2xx
  return {
    requests: result.requests.total,
    // An `amount` load ends part-way through its last second, which the per-second mean would count as a whole one.
    rps: spec.amount === undefined ? result.requests.mean : result.requests.total / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    failures: result.errors + unexpected,
    statusCodes,
  }
}

/**
 * An open-loop load at `spec.rate` requests per second, evenly paced: request i is due at
 * start + i / rate, whether or not earlier ones have been answered, over up to
 * `spec.connections` connections. Each latency runs from when the request was due, so a server
 * that falls behind is charged for the wait (no coordinated omission). autocannon's own rate
 * limit sends each connection's quota for a second back to back and then waits for the next
 * second, which measures bursts of the full concurrency rather than steady traffic.
 */
export async function runPacedLoad(spec: LoadSpec & { rate: number }): Promise<LoadResult> {
  const total = Math.round(spec.rate * spec.seconds)
  const latencies: number[] = []
  const statusCodes: Record<string, number> = {}
  let failures = 0
  // A new pool (and source address) every RECONNECT_EVERY requests, as autocannon reconnects.
  let pool: Pool | null = null
  const pools: Pool[] = []
  const poolFor = (i: number) => {
    if (!pool || i % RECONNECT_EVERY === 0) {
      pool = new Pool(spec.url, { connections: spec.connections, ...(spec.sourceAddress ? { localAddress: spec.sourceAddress() } : {}) })
      pools.push(pool)
    }
    return pool
  }
  const expected = spec.expect === '3xx' ? 3 : 2
  const send = async (i: number, due: number) => {
    try {
      const res = await poolFor(i).request({
        method: spec.method,
        path: spec.nextPath?.() ?? spec.path,
        headers: { ...spec.headers, ...spec.nextHeaders?.(), ...(spec.body ? { 'content-type': 'application/json' } : {}) },
        ...(spec.body ? { body: spec.body() } : {}),
      })
      spec.onHeaders?.(res.headers)
      await res.body.dump()
      latencies.push(performance.now() - due)
      statusCodes[res.statusCode] = (statusCodes[res.statusCode] ?? 0) + 1
      if (Math.floor(res.statusCode / 100) !== expected) failures++
    } catch {
      failures++
    }
  }
  const start = performance.now()
  const inFlight: Promise<void>[] = []
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / spec.rate
    const wait = due - performance.now()
    if (wait > 1) await sleep(wait)
    inFlight.push(send(i, due))
  }
  await Promise.all(inFlight)
  const seconds = (performance.now() - start) / 1000
  await Promise.all(pools.map((p) => p.close()))
  latencies.sort((a, b) => a - b)
  const at = (q: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN)
  return { requests: latencies.length, rps: latencies.length / seconds, p50: at(0.5), p99: at(0.99), failures, statusCodes }
}
