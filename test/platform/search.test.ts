import { after, before, it } from 'node:test'
import assert from 'node:assert/strict'
import { buildApp } from '../../src/app.js'
import { openDb, type Db } from '../../src/platform/db/db.js'
import { buildTestApp, client, type Client, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { makeOrganization } from '../helpers/factories.js'

/**
 * Substring search on invitations, users, organizations and organization invitations, through
 * the trigram indexes of migration 027, on both engines. Each answer is checked against the
 * same search done here in plain code: a case-insensitive substring, with % and _ matched
 * literally, newest first, and the same count. Queries of one and two characters are among
 * them (too short for a trigram, so answered by a scan, with the same results).
 */

const ADDRESSES = [
  'ann.lee_100%@search.test', 'anna.leeway@search.test', 'Carl.LEE@Search.test', 'zoe%_x@other.test',
  'bob.x@other.test', 'lee@x.test', 'a@b.test',
]

const QUERIES = [
  'lee', 'LEE', 'Lee', 'a', 'an', 'e_', '_', '%', '100%', '%_', 'search.test', 'zz', 'ee@', 'x@', '.', '@',
  'leeway@sea', 'ann.lee_1', 'nobody', 'carl.lee@search.test', 'b.t', '\\', 'lee%',
]

const contains = (text: string | null | undefined, query: string) => text != null && text.toLowerCase().includes(query.toLowerCase())
const ids = (list: { id: string }[]) => list.map((x) => x.id)
const q = (text: string) => encodeURIComponent(text)

/** Users: an address, a username and a name each; some with only a first or a last name. */
const PEOPLE: { email: string; username: string; first: string | null; last: string | null }[] = [
  { email: 'ann.lee_100%@search.test', username: 'ann_lee', first: 'Ann', last: 'Lee' },
  { email: 'anna.leeway@search.test', username: 'leeway', first: 'Anna', last: null },
  { email: 'carl.lee@search.test', username: 'carl-x', first: null, last: 'Mac_Lee' },
  { email: 'zoe%_x@other.test', username: 'zoe_100', first: 'Zoë', last: 'X%Y' },
  { email: 'bob.x@other.test', username: 'bobby', first: null, last: null },
]

const ORGANIZATIONS = [
  { name: 'Lee & Partners', slug: 'lee-partners' },
  { name: 'ANNA_LEE 100%', slug: 'anna-lee' },
  { name: 'Bob X', slug: 'bobx' },
  { name: 'Other', slug: 'lee' },
]

forEachDatabase('substring search, through trigram indexes', (engine) => {
  let t: TestApp
  let api: Client
  // Newest first, as every list answers by default.
  const invitations: { id: string; email_address: string }[] = []
  const users: { id: string; person: typeof PEOPLE[number] }[] = []
  const organizations: { id: string; name: string; slug: string }[] = []
  const orgInvitations: { id: string; email_address: string }[] = []
  // The same app over a connection that may not scan tables sequentially: with a handful of
  // rows the planner would scan; at a million it takes the indexes, whose answers must not differ.
  let indexed: { api: Client; close(): Promise<void> }

  before(async () => {
    t = await buildTestApp({ engine })
    const made = await t.newInstance()
    api = client(t.app, made.secretKey)
    assert.equal((await api.patch('/v1/instance', { username: { enabled: true } })).status, 200)
    for (const address of ADDRESSES) {
      const res = await api.post('/v1/invitations', { email_address: address, notify: false })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      invitations.unshift(res.body)
      t.clock.advance(1)
    }
    for (const person of PEOPLE) {
      const res = await api.post('/v1/users', { email_address: [person.email], username: person.username, first_name: person.first, last_name: person.last })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      users.unshift({ id: res.body.id, person })
      t.clock.advance(1)
    }
    for (const org of ORGANIZATIONS) {
      organizations.unshift(await makeOrganization(api, org))
      t.clock.advance(1)
    }
    for (const address of ADDRESSES) {
      const res = await api.post(`/v1/organizations/${organizations.at(-1)!.id}/invitations`, { email_address: address, role: 'org:member', notify: false })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      orgInvitations.unshift(res.body)
      t.clock.advance(1)
    }
    indexed = await withoutSequentialScans(t, made.secretKey)
  })
  after(async () => {
    await indexed?.close()
    await t.close()
  })

  /** Runs `check` through the app as it plans, then through the one that must use indexes. */
  const bothWays = async (check: (api: Client, how: string) => Promise<void>) => {
    await check(api, 'as planned')
    await check(indexed.api, 'without sequential scans')
  }

  it('made the trigram indexes', async () => {
    const rows = await t.db.query<{ indexname: string; indexdef: string }>(
      `select indexname, indexdef from pg_indexes where schemaname = current_schema() and indexname like '%\\_trgm'`)
    const made = Object.fromEntries(rows.map((r) => [r.indexname, r.indexdef]))
    assert.deepEqual(Object.keys(made).sort(), [
      'email_addresses_email_trgm', 'invitations_email_trgm', 'organization_invitations_email_trgm',
      'organizations_name_trgm', 'organizations_slug_trgm', 'users_full_name_trgm', 'users_username_trgm',
    ])
    for (const def of Object.values(made)) assert.match(def, /USING gin \(.*gin_trgm_ops\)/)
    const [extension] = await t.db.query<{ extname: string }>(`select extname from pg_extension where extname = 'pg_trgm'`)
    assert.equal(extension?.extname, 'pg_trgm')
  })

  it('invitations: GET /v1/invitations?query= matches a substring of the address, any case, wildcards literal', async () => {
    await bothWays(async (api, how) => {
      for (const query of QUERIES) {
        const expected = ids(invitations.filter((i) => contains(i.email_address, query)))
        const res = await api.get(`/v1/invitations?paginated=true&limit=100&query=${q(query)}`)
        assert.equal(res.status, 200, JSON.stringify(res.body))
        assert.deepEqual(ids(res.body.data), expected, `${how}: query ${JSON.stringify(query)}`)
        assert.equal(res.body.total_count, expected.length, `${how}: query ${JSON.stringify(query)}`)
        const page = await api.get(`/v1/invitations?paginated=true&limit=1&offset=1&query=${q(query)}`)
        assert.deepEqual(ids(page.body.data), expected.slice(1, 2), `${how}: query ${JSON.stringify(query)}, second page`)
        assert.equal(page.body.total_count, expected.length, `${how}: query ${JSON.stringify(query)}, second page`)
        const plain = await api.get(`/v1/invitations?limit=100&query=${q(query)}`)
        assert.deepEqual(ids(plain.body), expected, `${how}: query ${JSON.stringify(query)}, without a total`)
      }
      const byId = await api.get(`/v1/invitations?query=${invitations[2]!.id}`)
      assert.deepEqual(ids(byId.body), [invitations[2]!.id], `${how}: an exact id`)
    })
  })

  it('users: query, email_address_query, username_query and name_query match substrings, any case, wildcards literal', async () => {
    const fullName = (p: typeof PEOPLE[number]) => [p.first, p.last].filter((x) => x !== null).join(' ')
    const cases: [string, (p: typeof PEOPLE[number], query: string) => boolean][] = [
      ['query', (p, s) => contains(p.email, s) || contains(p.username, s) || contains(fullName(p), s)],
      ['email_address_query', (p, s) => contains(p.email, s)],
      ['username_query', (p, s) => contains(p.username, s)],
      ['name_query', (p, s) => contains(fullName(p), s)],
    ]
    await bothWays(async (api, how) => {
      for (const [param, matches] of cases) {
        for (const query of [...QUERIES, 'ann lee', 'mac_lee', 'x%y', 'a l', 'n l', 'zoe_']) {
          const expected = ids(users.filter((u) => matches(u.person, query)))
          const res = await api.get(`/v1/users?limit=100&${param}=${q(query)}`)
          assert.equal(res.status, 200, JSON.stringify(res.body))
          assert.deepEqual(ids(res.body), expected, `${how}: ${param} ${JSON.stringify(query)}`)
          const count = await api.get(`/v1/users/count?${param}=${q(query)}`)
          assert.equal(count.body.total_count, expected.length, `${how}: ${param} ${JSON.stringify(query)}, count`)
        }
      }
      const byId = await api.get(`/v1/users?query=${users[1]!.id}`)
      assert.deepEqual(ids(byId.body), [users[1]!.id], `${how}: an exact id`)
      const both = await api.get('/v1/users?query=lee&name_query=ann')
      assert.deepEqual(ids(both.body), ids(users.filter((u) => u.person.first?.toLowerCase().startsWith('ann'))), `${how}: with another filter`)
    })
  })

  it('organizations: GET /v1/organizations?query= matches a substring of the name or slug, any case, wildcards literal', async () => {
    await bothWays(async (api, how) => {
      for (const query of [...QUERIES, '& p', 'lee-', 'x']) {
        const expected = ids(organizations.filter((o) => contains(o.name, query) || contains(o.slug, query)))
        const res = await api.get(`/v1/organizations?limit=100&query=${q(query)}`)
        assert.equal(res.status, 200, JSON.stringify(res.body))
        assert.deepEqual(ids(res.body.data), expected, `${how}: query ${JSON.stringify(query)}`)
        assert.equal(res.body.total_count, expected.length, `${how}: query ${JSON.stringify(query)}`)
      }
      const byId = await api.get(`/v1/organizations?query=${organizations[1]!.id}`)
      assert.deepEqual(ids(byId.body.data), [organizations[1]!.id], `${how}: an exact id`)
    })
  })

  it('organization invitations: GET /v1/organization_invitations?query= matches a substring of the address', async () => {
    await bothWays(async (api, how) => {
      for (const query of QUERIES) {
        const expected = ids(orgInvitations.filter((i) => contains(i.email_address, query)))
        const res = await api.get(`/v1/organization_invitations?limit=100&query=${q(query)}`)
        assert.equal(res.status, 200, JSON.stringify(res.body))
        assert.deepEqual(ids(res.body.data), expected, `${how}: query ${JSON.stringify(query)}`)
        assert.equal(res.body.total_count, expected.length, `${how}: query ${JSON.stringify(query)}`)
      }
    })
  })
})

/**
 * A second app on `t`'s database whose connection may not scan a table sequentially. PGlite has
 * one session, shared with `t`: the setting is made around each request. PostgreSQL: a pool of
 * its own, on a database that turns them off for every new connection.
 */
async function withoutSequentialScans(t: TestApp, secretKey: string): Promise<{ api: Client; close(): Promise<void> }> {
  let db: Db = t.db
  if (t.databaseUrl) {
    const [database] = await t.db.query<{ name: string }>('select current_database() as name')
    await t.db.exec(`alter database "${database!.name}" set enable_seqscan = off`)
    db = await openDb({ databaseUrl: t.databaseUrl, dataDir: null })
  }
  const { app } = await buildApp({ config: t.config, db, clock: t.clock, serverSecret: t.serverSecret, redis: null })
  await app.ready()
  const inner = client(app, secretKey)
  const around = <A extends unknown[], R>(fn: (...args: A) => Promise<R>) => async (...args: A): Promise<R> => {
    if (t.databaseUrl) return fn(...args)
    await t.db.exec('set enable_seqscan = off')
    try {
      return await fn(...args)
    } finally {
      await t.db.exec('reset enable_seqscan')
    }
  }
  return {
    api: { ...inner, get: around(inner.get), post: around(inner.post), patch: around(inner.patch), delete: around(inner.delete) },
    close: async () => {
      await app.close()
      if (db !== t.db) await db.close()
    },
  }
}
