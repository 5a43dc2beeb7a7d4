import http from 'node:http'
import type { AddressInfo } from 'node:net'

export interface RoundRobinProxy {
  url: string
  /** Requests sent on to each upstream, by its base URL. */
  sent: Map<string, number>
  stop(): Promise<void>
}

/**
 * A reverse proxy in front of several Foyer processes, as nginx's default upstream does it:
 * each request goes to the next upstream in turn, with the client's address appended to
 * X-Forwarded-For. An upstream that refuses or drops the connection answers 502, and a request
 * is never sent twice: a POST is not safe to retry. `upstreams` is read at each request, so the
 * processes behind it can be started once its address is known.
 */
export async function startRoundRobinProxy(upstreams: readonly string[]): Promise<RoundRobinProxy> {
  const agent = new http.Agent({ keepAlive: true })
  const sent = new Map<string, number>()
  let turn = 0
  const server = http.createServer((req, res) => {
    const upstream = upstreams[turn++ % upstreams.length]
    if (!upstream) {
      res.writeHead(503).end()
      return
    }
    sent.set(upstream, (sent.get(upstream) ?? 0) + 1)
    const target = new URL(upstream)
    const forwarded = [req.headers['x-forwarded-for'], req.socket.remoteAddress].filter(Boolean).join(', ')
    const out = http.request({
      host: target.hostname, port: target.port, method: req.method, path: req.url, agent,
      headers: { ...req.headers, 'x-forwarded-for': forwarded },
    }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(res)
      answer.on('error', () => res.destroy())
    })
    out.on('error', () => {
      if (res.headersSent) res.destroy()
      else res.writeHead(502, { 'content-type': 'text/plain' }).end('bad gateway')
    })
    req.pipe(out)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    sent,
    stop: async () => {
      agent.destroy()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
