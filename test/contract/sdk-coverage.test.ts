import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { packageRoot } from '../../src/platform/paths.js'
import { buildTestApp, type TestApp } from '../helpers/build-app.js'
import { createClerkClient, exchanges } from './sdk-recorder.js'

/**
 * The README's table of @clerk/backend methods, checked against what Foyer routes. Every
 * method of every namespace of the installed SDK is called once with placeholder arguments;
 * a method is answered when none of the requests it sends reaches Foyer's "no route" 404.
 * Placeholder ids make most answers 404 or 422, which is fine: the route exists. An SDK upgrade
 * that adds a method, or a route added or removed without the README, fails here.
 */

const START = '<!-- sdk-coverage:start -->'
const END = '<!-- sdk-coverage:end -->'

/** Placeholder arguments, tried in turn until the SDK sends a request (it checks ids and shapes itself first). */
const anything = new Proxy({}, {
  get: (_t, key) => (typeof key === 'string' && !['then', 'toJSON', 'constructor'].includes(key) ? (key === 'messages' ? [] : 'id_1') : undefined),
  ownKeys: () => [],
  has: () => true,
})
const ARGUMENT_SETS: unknown[][] = [
  [anything],
  ['id_1', 'id_2', { name: 'x' }],
  ['id_1', { userId: 'user_1', organizationId: 'org_1', emailAddress: 'a@example.com', identifier: 'a@example.com' }],
  [{ userId: 'user_1', organizationId: 'org_1', emailAddress: 'a@example.com', identifier: 'a@example.com' }],
]

/** SDK namespaces that talk to no server, or only to Clerk's own telemetry. */
const NOT_API = new Set(['telemetry'])

interface Row { namespace: string; answered: string[]; notAnswered: string[] }

function readmeRows(): Row[] {
  const readme = readFileSync(join(packageRoot, 'README.md'), 'utf8')
  const start = readme.indexOf(START)
  const end = readme.indexOf(END)
  assert.ok(start >= 0 && end > start, `README.md has no ${START} … ${END} table`)
  const names = (cell: string) => [...cell.matchAll(/`([A-Za-z_]\w*)`/g)].map((m) => m[1]!)
  return readme.slice(start + START.length, end).split('\n')
    .filter((line) => /^\|\s*`/.test(line))
    .map((line) => {
      const [, ns, answered, notAnswered] = line.split('|')
      return { namespace: names(ns!)[0]!, answered: names(answered ?? ''), notAnswered: names(notAnswered ?? '') }
    })
}

const isUnrouted = (x: { status: number; json: unknown }) =>
  x.status === 404 && /^No route /.test((x.json as { errors?: { long_message?: string }[] } | undefined)?.errors?.[0]?.long_message ?? '')

describe('@clerk/backend methods Foyer answers, as the README lists them', () => {
  let t: TestApp
  const actual: Row[] = []

  before(async () => {
    t = await buildTestApp()
    const apiUrl = await t.app.listen({ port: 0, host: '127.0.0.1' })
    const { secretKey } = await t.newInstance()
    const clerk = createClerkClient({ secretKey, apiUrl, telemetry: { disabled: true } }) as unknown as Record<string, Record<string, (...args: unknown[]) => Promise<unknown>>>
    for (const namespace of Object.keys(clerk).sort()) {
      const api = clerk[namespace]
      if (!api || typeof api !== 'object' || NOT_API.has(namespace)) continue
      const methods = new Set([...Object.getOwnPropertyNames(Object.getPrototypeOf(api)), ...Object.getOwnPropertyNames(api)])
      const row: Row = { namespace, answered: [], notAnswered: [] }
      for (const method of [...methods].sort()) {
        if (method === 'constructor' || method.startsWith('_') || typeof api[method] !== 'function' || method === 'request' || method === 'requireId') continue
        let sent: typeof exchanges = []
        for (const args of ARGUMENT_SETS) {
          exchanges.length = 0
          try {
            await api[method]!(...args)
          } catch { /* placeholder ids fail; only the route matters */ }
          sent = exchanges.filter((x) => x.url.origin === apiUrl)
          if (sent.length > 0) break
        }
        // A method whose arguments no placeholder satisfies sends nothing; it counts as not answered.
        if (sent.length > 0 && !sent.some(isUnrouted)) row.answered.push(method)
        else row.notAnswered.push(method)
      }
      actual.push(row)
    }
  })
  after(() => t.close())

  it('lists every namespace and method of the installed SDK exactly as Foyer routes them', () => {
    const table = actual.map((r) => `| \`${r.namespace}\` | ${r.answered.map((m) => `\`${m}\``).join(', ')} | ${r.notAnswered.map((m) => `\`${m}\``).join(', ')} |`).join('\n')
    assert.deepEqual(readmeRows(), actual, `The README's table should read:\n${table}\n`)
  })

  it('answers the invitation methods, the reason Foyer exists', () => {
    const invitations = actual.find((r) => r.namespace === 'invitations')
    assert.deepEqual(invitations?.notAnswered, [])
    assert.ok((invitations?.answered.length ?? 0) >= 5)
  })
})
