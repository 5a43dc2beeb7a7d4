/**
 * The delivery section of `npm run bench`: emails per second from Foyer's outbox to a local
 * SMTP sink, and signed webhook deliveries per second to a local HTTP receiver, both on
 * PostgreSQL, against a Foyer child process.
 *
 * How the figure is made a delivery throughput, not a queuing one: both sinks start *closed*
 * (they accept the connection and the message, but hold the answer). The bench first queues
 * one "plug" item and waits until it is held at the sink: the worker is then stuck in its
 * batch (a batch ends only when all its items finish), so it claims nothing while the other
 * N−1 items are queued through the API. Then the sink opens, and the clock runs from that
 * moment to the N-th distinct message received. The rate is therefore that of a worker
 * draining a full queue, without the bulk creates competing for the same two cores, and
 * without the worker's poll interval hiding in the start. (Counting "from first arrival"
 * with the worker running during queuing would mix the create load into the figure; stopping
 * Foyer to queue would need a second process or SQL written behind the API's back.) The plug
 * is held only for the few seconds of queuing, inside the webhook timeout (15 s) and the
 * mailer's socket timeout (15 s); a retry would show as a duplicate in the table.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { SMTPServer } from 'smtp-server'
import type { Server } from './servers.js'

export interface DeliveryResult {
  what: 'emails' | 'webhook deliveries'
  server: string
  /** Items queued (plug included). */
  queued: number
  /** Seconds the N−1 API calls took while the worker was held. */
  queueSeconds: number
  /** Distinct items received (by Message-ID or svix-id). */
  received: number
  /** Messages or requests received beyond the distinct ones (retries, double sends). */
  duplicates: number
  /** From the sink opening to the last distinct item; NaN if not all arrived. */
  seconds: number
  perSecond: number
  peakRssMb: number
}

/** A sink that counts distinct items, holds every answer until opened, and reports progress. */
function counter() {
  const ids = new Set<string>()
  let total = 0
  let held: (() => void)[] | null = []
  let waiters: { n: number; resolve: () => void }[] = []
  let lastAt = NaN
  return {
    ids,
    get total() { return total },
    get lastAt() { return lastAt },
    get heldCount() { return held?.length ?? 0 },
    /** Records one item; `answer` is called now if open, else when opened. */
    received(id: string, answer: () => void) {
      total++
      if (!ids.has(id)) {
        ids.add(id)
        lastAt = performance.now()
      }
      waiters = waiters.filter((w) => (ids.size >= w.n ? (w.resolve(), false) : true))
      if (held) held.push(answer)
      else answer()
    },
    open() {
      const answers = held ?? []
      held = null
      for (const answer of answers) answer()
    },
    close() {
      held ??= []
    },
    /** Resolves once `n` distinct items arrived, or after `timeoutMs` (check `ids.size`). */
    waitFor(n: number, timeoutMs: number): Promise<void> {
      if (ids.size >= n) return Promise.resolve()
      return new Promise((resolve) => {
        const timer = setTimeout(resolve, timeoutMs)
        waiters.push({ n, resolve: () => { clearTimeout(timer); resolve() } })
      })
    },
    reset() {
      ids.clear()
      total = 0
      lastAt = NaN
    },
  }
}

/** SMTP on 127.0.0.1: accepts every message, reads and discards it, counts it by Message-ID. */
export async function startSmtpCounter() {
  const count = counter()
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    closeTimeout: 10,
    onData(stream, _session, callback) {
      let head = ''
      stream.on('data', (chunk: Buffer) => {
        if (head.length < 8192) head += chunk.toString('latin1')
      })
      stream.on('end', () => {
        const id = /^Message-ID:\s*(<[^>]+>)/im.exec(head)?.[1] ?? `no-id-${count.total}`
        count.received(id, () => callback())
      })
    },
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const { port } = (server as unknown as { server: { address(): AddressInfo } }).server.address()
  return {
    url: `smtp://127.0.0.1:${port}`,
    count,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

/** HTTP on 127.0.0.1: answers 204 to every request, counts it by svix-id (no verification). */
export async function startHttpCounter() {
  const count = counter()
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      const id = String(req.headers['svix-id'] ?? `no-id-${count.total}`)
      count.received(id, () => res.writeHead(204).end())
    })
  })
  server.keepAliveTimeout = 60_000
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    count,
    stop: () => new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    }),
  }
}

type Counter = ReturnType<typeof counter>

async function call(server: Server, auth: Record<string, string>, method: string, path: string, body: unknown): Promise<unknown> {
  const res = await fetch(server.url + path, {
    method, headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(body),
  })
  if (!res.ok) throw new Error(`${server.name}: ${method} ${path} answered ${res.status}: ${await res.text()}`)
  return res.json()
}

/** Queues `n` invitations through POST /v1/invitations/bulk, 10 per call, `inFlight` calls at a time. */
async function queueInvitations(server: Server, auth: Record<string, string>, n: number, notify: boolean, address: () => string, inFlight = 8) {
  const bodies: unknown[][] = []
  for (let i = 0; i < n; i += 10) {
    bodies.push(Array.from({ length: Math.min(10, n - i) }, () => ({ email_address: address(), notify })))
  }
  await Promise.all(Array.from({ length: inFlight }, async () => {
    for (let body = bodies.shift(); body; body = bodies.shift()) await call(server, auth, 'POST', '/v1/invitations/bulk', body)
  }))
}

async function measure(opts: {
  what: DeliveryResult['what']
  server: Server
  auth: Record<string, string>
  count: Counter
  n: number
  notify: boolean
  address: () => string
  timeoutMs: number
  log: (line: string) => void
}): Promise<DeliveryResult> {
  const { server, auth, count, n, log } = opts
  count.close()
  count.reset()
  // The plug: one item, held at the sink, so that the worker sits in its batch while the rest is queued.
  await queueInvitations(server, auth, 1, opts.notify, opts.address)
  await count.waitFor(1, 10_000)
  if (count.heldCount < 1) throw new Error(`${server.name}: the first of the ${opts.what} did not reach the sink within 10 s:\n${server.recentOutput()}`)
  const queueStarted = performance.now()
  await queueInvitations(server, auth, n - 1, opts.notify, opts.address)
  const queueSeconds = (performance.now() - queueStarted) / 1000
  log(`${server.name}: ${opts.what}: ${n} queued (the last ${n - 1} in ${queueSeconds.toFixed(1)} s, worker held); opening the sink`)

  const opened = performance.now()
  count.open()
  await count.waitFor(n, opts.timeoutMs)
  const all = count.ids.size >= n
  // Late duplicates (a retry of an item already received) would still be counted below.
  await new Promise((resolve) => setTimeout(resolve, 500))
  const seconds = all ? (count.lastAt - opened) / 1000 : NaN
  const result: DeliveryResult = {
    what: opts.what, server: server.name, queued: n, queueSeconds,
    received: count.ids.size, duplicates: count.total - count.ids.size,
    seconds, perSecond: all ? n / seconds : count.ids.size / (opts.timeoutMs / 1000),
    peakRssMb: server.peakRssMb(),
  }
  log(`${server.name}: ${opts.what}: ${result.received}/${n} received`
    + (all ? ` in ${seconds.toFixed(2)} s: ${result.perSecond.toFixed(0)}/s` : ` within ${opts.timeoutMs / 1000} s (NOT all)`)
    + `, ${result.duplicates} duplicates`)
  return result
}

/**
 * Runs both measurements against `server` (a Foyer whose SMTP_URL points at `smtp`): emails
 * first, before any webhook endpoint exists (each invitation's invitation.created event is
 * still fanned out, to no endpoint: that is part of the worker's job per invitation), then
 * webhooks to one endpoint with notify false.
 */
export async function benchDelivery(opts: {
  server: Server
  smtp: Awaited<ReturnType<typeof startSmtpCounter>>
  http: Awaited<ReturnType<typeof startHttpCounter>>
  auth: Record<string, string>
  n: number
  address: () => string
  timeoutMs: number
  log: (line: string) => void
  /** Resolves once the outbox holds nothing pending (so that no earlier event reaches the endpoint). */
  outboxIdle: () => Promise<void>
}): Promise<DeliveryResult[]> {
  const { server, auth, log } = opts
  const emails = await measure({ ...opts, what: 'emails', count: opts.smtp.count, notify: true })
  await opts.outboxIdle()
  await call(server, auth, 'POST', '/v1/webhooks/endpoints', { url: opts.http.url, event_types: ['invitation.created'] })
  const webhooks = await measure({ ...opts, what: 'webhook deliveries', count: opts.http.count, notify: false })
  log(`${server.name}: peak RSS ${server.peakRssMb().toFixed(0)} MB`)
  return [emails, webhooks]
}
