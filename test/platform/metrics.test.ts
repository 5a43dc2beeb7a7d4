import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { buildApp } from '../../src/app.js'
import { buildTestApp, client, uniqueEmail, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'

const TOKEN = 'metrics-token-' + 'x1Y2z3'.repeat(6)

interface Sample { name: string; labels: Record<string, string>; value: number }

/** Prometheus's text format, one sample a line. */
function parse(text: string): Sample[] {
  const samples: Sample[] = []
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!m) continue
    const labels: Record<string, string> = {}
    for (const [, key, value] of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[key!] = value!
    samples.push({ name: m[1]!, labels, value: Number(m[3]) })
  }
  return samples
}

/** The one sample of `name` whose labels include `labels`. */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
  assert.ok(found.length <= 1, `${name} ${JSON.stringify(labels)} matches ${found.length} samples`)
  return found[0]?.value
}

/** GET on a real socket: the metrics port is a server of its own, outside app.inject. */
function get(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path, headers }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (chunk: string) => { body += chunk }).on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }))
    }).on('error', reject).end()
  })
}

describe('/metrics is never public by default', () => {
  let t: TestApp
  before(async () => { t = await buildTestApp() })
  after(() => t.close())

  it('with neither FOYER_METRICS_PORT nor FOYER_METRICS_TOKEN, /metrics does not exist (404) and no registry is made', async () => {
    assert.equal(t.metrics, null)
    const res = await t.app.inject({ method: 'GET', url: '/metrics' })
    assert.equal(res.statusCode, 404)
    assert.equal(res.json().errors[0].code, 'resource_not_found')
  })

  it('liveness and readiness both answer 200 while the database answers; /v1/health stays the readiness check', async () => {
    for (const url of ['/v1/health/live', '/v1/health/ready', '/v1/health']) {
      const res = await t.app.inject({ method: 'GET', url })
      assert.equal(res.statusCode, 200, url)
      assert.deepEqual(res.json(), { status: 'ok' })
    }
  })
})

describe('FOYER_METRICS_PORT: /metrics on a port of its own', () => {
  let t: TestApp
  let port: number
  before(async () => {
    t = await buildTestApp({ env: { FOYER_METRICS_PORT: '9464' } })
    port = await t.metrics!.listen(0, '127.0.0.1')
  })
  after(() => t.close())

  it('serves the metrics there, and neither /metrics on the main port nor anything else on its own', async () => {
    const res = await get(port, '/metrics')
    assert.equal(res.status, 200)
    assert.match(String(res.headers['content-type']), /^text\/plain/)
    assert.match(res.body, /^# HELP process_resident_memory_bytes /m)
    assert.equal((await t.app.inject({ method: 'GET', url: '/metrics' })).statusCode, 404)
    assert.equal((await get(port, '/v1/invitations')).status, 404)
  })

  it('with FOYER_METRICS_TOKEN too, the port asks for the token', async () => {
    const guarded = await buildTestApp({ env: { FOYER_METRICS_PORT: '9464', FOYER_METRICS_TOKEN: TOKEN } })
    try {
      const guardedPort = await guarded.metrics!.listen(0, '127.0.0.1')
      assert.equal((await get(guardedPort, '/metrics')).status, 401)
      assert.equal((await get(guardedPort, '/metrics', { authorization: `Bearer ${TOKEN}x` })).status, 401)
      assert.equal((await get(guardedPort, '/metrics', { authorization: `Bearer ${TOKEN}` })).status, 200)
      assert.equal((await guarded.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } })).statusCode, 404)
    } finally {
      await guarded.close()
    }
  })
})

forEachDatabase('FOYER_METRICS_TOKEN: /metrics on the main port behind a bearer token', (engine) => {
  let t: TestApp
  const scrape = async () => {
    const res = await t.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } })
    assert.equal(res.statusCode, 200)
    return parse(res.body)
  }
  before(async () => { t = await buildTestApp({ engine, env: { FOYER_METRICS_TOKEN: TOKEN } }) })
  after(() => t.close())

  it('answers 401 in Clerk\'s error shape without the token or with another, and 200 with it', async () => {
    for (const authorization of [undefined, 'Bearer nope', `Bearer ${TOKEN.slice(0, -1)}`, TOKEN, `Basic ${TOKEN}`]) {
      const res = await t.app.inject({ method: 'GET', url: '/metrics', headers: authorization ? { authorization } : {} })
      assert.equal(res.statusCode, 401, String(authorization))
      assert.equal(res.headers['www-authenticate'], 'Bearer')
      assert.equal(res.json().errors[0].code, 'authentication_invalid')
    }
    const res = await t.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } })
    assert.equal(res.statusCode, 200)
    assert.match(res.headers['content-type'] as string, /^text\/plain; version=0\.0\.4/)
  })

  it('counts requests by method, route pattern and status, with latency histograms, and never puts an id in a label', async () => {
    const { secretKey } = await t.newInstance()
    const api = client(t.app, secretKey)
    const route = '/v1/invitations/:invitation_id/revoke'
    const before = await scrape()
    const missing = 'inv_' + 'doesnotexist'.repeat(2)
    assert.equal((await api.post(`/v1/invitations/${missing}/revoke`)).status, 404)
    assert.equal((await api.post(`/v1/invitations/${missing}/revoke`)).status, 404)
    assert.equal((await t.app.inject({ method: 'GET', url: '/no/such/path/tkt_secret' })).statusCode, 404)
    const now = await scrape()
    const count = (samples: Sample[], labels: Record<string, string>) => value(samples, 'foyer_http_requests_total', labels) ?? 0
    assert.equal(count(now, { method: 'POST', route, status: '404' }) - count(before, { method: 'POST', route, status: '404' }), 2)
    assert.equal(value(now, 'foyer_http_request_duration_seconds_count', { method: 'POST', route }), 2)
    assert.equal(value(now, 'foyer_http_request_duration_seconds_bucket', { method: 'POST', route, le: '+Inf' }), 2)
    assert.ok(count(now, { method: 'GET', route: 'unmatched', status: '404' }) >= 1)
    const labelled = now.flatMap((s) => Object.values(s.labels))
    assert.ok(!labelled.some((v) => v.includes(missing) || v.includes('tkt_') || v.includes('/no/such')), 'a raw URL reached a label')
  })

  it('reports outbox depth and the oldest due item\'s age by kind, and delivery results once delivered', async () => {
    const { secretKey } = await t.newInstance()
    await t.outboxWorker.drain()
    const before = await scrape()
    assert.equal(value(before, 'foyer_outbox_depth', { kind: 'email' }), 0)
    assert.equal(value(before, 'foyer_outbox_oldest_due_age_seconds', { kind: 'email' }), 0)
    const delivered = value(before, 'foyer_outbox_deliveries_total', { kind: 'email', result: 'delivered' })!

    for (let i = 0; i < 3; i++) assert.equal((await client(t.app, secretKey).post('/v1/invitations', { email_address: uniqueEmail('queued') })).status, 200)
    t.clock.advance(90_000)
    const queued = await scrape()
    assert.equal(value(queued, 'foyer_outbox_depth', { kind: 'email' }), 3)
    assert.equal(value(queued, 'foyer_outbox_depth', { kind: 'webhook' }), 3)
    assert.equal(value(queued, 'foyer_outbox_oldest_due_age_seconds', { kind: 'email' }), 90)

    await t.outboxWorker.drain()
    const drained = await scrape()
    assert.equal(value(drained, 'foyer_outbox_depth', { kind: 'email' }), 0)
    assert.equal(value(drained, 'foyer_outbox_oldest_due_age_seconds', { kind: 'email' }), 0)
    assert.equal(value(drained, 'foyer_outbox_deliveries_total', { kind: 'email', result: 'delivered' }), delivered + 3)
    assert.equal(value(drained, 'foyer_outbox_deliveries_total', { kind: 'email', result: 'failed' }), 0)
  })

  it('reports the database pool and process memory', async () => {
    const samples = await scrape()
    assert.equal(value(samples, 'foyer_db_pool_max_connections'), engine === 'pglite' ? 1 : 20)
    assert.ok(value(samples, 'foyer_db_pool_connections')! >= 1)
    assert.equal(value(samples, 'foyer_db_pool_waiting'), 0)
    assert.equal(value(samples, 'foyer_ready'), 1)
    assert.ok(value(samples, 'foyer_db_pool_idle_connections')! >= 0)
    assert.ok(value(samples, 'process_resident_memory_bytes')! > 0)
    assert.ok(value(samples, 'nodejs_heap_size_used_bytes')! > 0)
  })
})

forEachDatabase('liveness and readiness', (engine) => {
  it('with the database gone, readiness (and /v1/health) answer 503 while liveness still answers 200', async () => {
    const t = await buildTestApp({ engine, env: { FOYER_METRICS_TOKEN: TOKEN } })
    try {
      await t.db.close()
      for (const url of ['/v1/health/ready', '/v1/health']) {
        const res = await t.app.inject({ method: 'GET', url })
        assert.equal(res.statusCode, 503, url)
        assert.deepEqual(res.json(), { status: 'unavailable' })
      }
      assert.equal((await t.app.inject({ method: 'GET', url: '/v1/health/live' })).statusCode, 200)
      // The metrics still answer, without the outbox gauges the database would have given.
      const res = await t.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } })
      assert.equal(res.statusCode, 200)
      assert.equal(value(parse(res.body), 'foyer_outbox_depth', { kind: 'email' }), undefined)
      assert.equal(value(parse(res.body), 'foyer_ready'), 0)
    } finally {
      await t.close()
    }
  })

  it('while starting (migrations running), readiness and every request but liveness answer 503; then all is served', async () => {
    const t = await buildTestApp({ engine })
    try {
      const startup = { ready: false }
      const { app } = await buildApp({ config: t.config, db: t.db, clock: t.clock, serverSecret: t.serverSecret, startup })
      try {
        const ready = await app.inject({ method: 'GET', url: '/v1/health/ready' })
        assert.equal(ready.statusCode, 503)
        assert.deepEqual(ready.json(), { status: 'starting' })
        assert.equal((await app.inject({ method: 'GET', url: '/v1/health/live' })).statusCode, 200)
        const api = await app.inject({ method: 'GET', url: '/v1/invitations' })
        assert.equal(api.statusCode, 503)
        assert.equal(api.json().errors[0].code, 'service_unavailable')
        assert.equal(api.headers['retry-after'], '1')

        startup.ready = true
        assert.equal((await app.inject({ method: 'GET', url: '/v1/health/ready' })).statusCode, 200)
        assert.equal((await app.inject({ method: 'GET', url: '/v1/invitations' })).statusCode, 401)
      } finally {
        await app.close()
      }
    } finally {
      await t.close()
    }
  })
})
