import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Webhook } from 'svix'

export interface Received {
  headers: Record<string, string>
  body: string
  /** What `svix` made of it: the parsed event, or the verification error. */
  verified: { ok: true; event: any } | { ok: false; error: string }
  status: number
}

const flat = (headers: IncomingHttpHeaders) =>
  Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : String(v)]))

/**
 * A real HTTP receiver on 127.0.0.1 that verifies every request with the `svix` package, as
 * an application receiving Foyer's webhooks would. `respond(n)` picks the status of the
 * n-th request (1-based).
 */
export async function startReceiver(secret: () => string, respond: (n: number) => number = () => 200) {
  const received: Received[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      const headers = flat(req.headers)
      let verified: Received['verified']
      try {
        verified = { ok: true, event: new Webhook(secret()).verify(body, headers) }
      } catch (err) {
        verified = { ok: false, error: (err as Error).message }
      }
      const status = respond(received.length + 1)
      received.push({ headers, body, verified, status })
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'nope')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    received,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    }),
  }
}
