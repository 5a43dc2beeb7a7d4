import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { buildTestApp, client, uniqueEmail, type TestApp } from '../helpers/build-app.js'
import { fapi } from '../frontend/fapi-client.js'

// Code sign-ups allowed per IP in a window (src/platform/rate-limit.ts).
const PER_IP = 30

async function withApp(env: Record<string, string>, run: (t: TestApp, signUp: (socket: string, forwardedFor?: string) => Promise<number>, logs: string[]) => Promise<void>) {
  const logs: string[] = []
  const t = await buildTestApp({ env, logLines: logs })
  try {
    const { instance, secretKey } = await t.newInstance('Acme')
    assert.equal((await client(t.app, secretKey).patch('/v1/instance', { sign_up_mode: 'public' })).status, 200)
    // A new address each time: only the per-IP limit can refuse these.
    const signUp = async (socket: string, forwardedFor?: string) => (await fapi(t.app).post('/v1/client/sign_ups',
      { strategy: 'email_code', email_address: uniqueEmail('proxied'), password: 'correct horse battery' },
      { instance: instance.id, remoteAddress: socket, ...(forwardedFor ? { headers: { 'x-forwarded-for': forwardedFor } } : {}) })).status
    await run(t, signUp, logs)
  } finally {
    await t.close()
  }
}

const completedIps = (logs: string[]) => logs.map((line) => JSON.parse(line)).filter((l) => l.msg === 'request completed' && l.url.startsWith('/v1/client/sign_ups')).map((l) => l.ip)

describe('FOYER_TRUST_PROXY', () => {
  it('unset: X-Forwarded-For is ignored, so forging it does not dodge the per-IP limit, and logs show the socket address', async () => {
    await withApp({}, async (_t, signUp, logs) => {
      for (let i = 0; i < PER_IP; i++) assert.equal(await signUp('203.0.113.7', `198.51.100.${i}`), 200)
      assert.equal(await signUp('203.0.113.7', '198.51.100.200'), 429)
      assert.equal(await signUp('203.0.113.8'), 200, 'another client still gets through')
      assert.deepEqual([...new Set(completedIps(logs))], ['203.0.113.7', '203.0.113.8'])
    })
  })

  it('a trusted network: each client behind the proxy has its own limit; a sender outside it is counted by its socket', async () => {
    await withApp({ FOYER_TRUST_PROXY: '10.0.0.0/8, loopback' }, async (_t, signUp, logs) => {
      // Many clients behind one proxy, more requests in all than one IP may make.
      for (let i = 0; i < PER_IP + 5; i++) assert.equal(await signUp('10.1.2.3', `198.51.100.${i}`), 200)
      // One client behind the proxy is still limited.
      for (let i = 0; i < PER_IP - 1; i++) assert.equal(await signUp('10.1.2.3', '198.51.100.0'), 200)
      assert.equal(await signUp('10.1.2.3', '198.51.100.0'), 429)
      // Not a trusted proxy: its X-Forwarded-For is a forgery, and its own address is counted.
      for (let i = 0; i < PER_IP; i++) assert.equal(await signUp('203.0.113.9', `192.0.2.${i}`), 200)
      assert.equal(await signUp('203.0.113.9', '192.0.2.250'), 429)
      const ips = new Set(completedIps(logs))
      assert.ok(ips.has('198.51.100.7') && ips.has('203.0.113.9') && !ips.has('10.1.2.3') && !ips.has('192.0.2.3'), [...ips].join(', '))
    })
  })

  it('a hop count: the address the last proxy saw is the client, whatever the client wrote before it', async () => {
    await withApp({ FOYER_TRUST_PROXY: '1' }, async (_t, signUp) => {
      // The forged first entry changes every time; the proxy's (last) entry does not.
      for (let i = 0; i < PER_IP; i++) assert.equal(await signUp('10.1.2.3', `6.6.6.${i}, 198.51.100.77`), 200)
      assert.equal(await signUp('10.1.2.3', '6.6.6.250, 198.51.100.77'), 429)
      assert.equal(await signUp('10.1.2.3', '198.51.100.78'), 200)
    })
  })
})
