import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { buildTestApp, client, type Client, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { fullName } from '../../src/users/users.store.js'
import { makeOrganization } from '../helpers/factories.js'
import { FEW_MATCHES, trigramContains } from '../../src/platform/db/db.js'

/**
 * Substring search on invitations, users, organizations and organization invitations, through
 * the trigram indexes of migration 027, on both engines. Each answer is checked against the
 * same search done here in plain code: a case-insensitive substring, with % and _ matched
 * literally, newest first, and the same count. Queries of one and two characters are among
 * them (too short for a trigram, so answered by a scan, with the same results).
 */

const ADDRESSES = [
  'ann.lee_100%@search.test', 'anna.leeway@search.test', 'Carl.LEE@Search.test', 'zoe%_x@other.test',
  'bob.x@other.test', 'lee@x.test', 'a@b.test', 'kim.quite-long.local-part.0123456789@search.test',
]

const QUERIES = [
  'lee', 'LEE', 'Lee', 'a', 'an', 'e_', '_', '%', '100%', '%_', 'search.test', 'zz', 'ee@', 'x@', '.', '@',
  'leeway@sea', 'ann.lee_1', 'nobody', 'carl.lee@search.test', 'b.t', '\\', 'lee%',
  // More trigrams than trigramContains makes keys of, so only some are looked up.
  'kim.quite-long.local-part.0123456789@search.test', 'quite-long.local-part.0123456780',
  // Every trigram key is in anna.leeway@…, but not the text: strpos() must refuse it.
  'ann.leeway',
  // Letters pg_trgm may not make trigrams of in every locale: matched by `like` alone.
  'zoë', 'ZOË X', 'ë',
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
  })
  after(() => t.close())

  // With a handful of rows the planner scans rather than reading an index; the plans at a
  // million rows are the bench's and EXPLAIN's business. What is checked here is that every
  // form of the SQL (the trigram one, and the one for texts without a trigram) matches alike.
  const search = (check: (api: Client, how: string) => Promise<void>) => check(api, engine)

  it('made the trigram indexes', async () => {
    const rows = await t.db.query<{ indexname: string; indexdef: string }>(
      `select indexname, indexdef from pg_indexes where schemaname = current_schema() and indexname like '%\\_trgm'`)
    const made = Object.fromEntries(rows.map((r) => [r.indexname, r.indexdef]))
    assert.deepEqual(Object.keys(made).sort(), [
      'email_addresses_email_trgm', 'invitations_email_trgm', 'organization_invitations_email_trgm',
      'organizations_name_trgm', 'organizations_slug_trgm', 'users_full_name_trgm', 'users_search_text_trgm', 'users_username_trgm',
    ])
    for (const def of Object.values(made)) assert.match(def, /USING gin \(.*gin_trgm_ops\)/)
    const [extension] = await t.db.query<{ extname: string }>(`select extname from pg_extension where extname = 'pg_trgm'`)
    assert.equal(extension?.extname, 'pg_trgm')
  })

  it('each index is on the very expression the stores search, so the planner can match it', async () => {
    // An index made on the stores' expression, in a transaction rolled back, must read back as
    // the migration's index: PostgreSQL prints both in one normal form.
    const searched: [string, string, string][] = [
      ['invitations_email_trgm', 'invitations', 'invitations.email_address'],
      ['organization_invitations_email_trgm', 'organization_invitations', 'organization_invitations.email_address'],
      ['email_addresses_email_trgm', 'email_addresses', 'email_addresses.email_address'],
      ['users_username_trgm', 'users', 'users.username'],
      ['users_full_name_trgm', 'users', fullName('users')],
      ['users_search_text_trgm', 'users', 'users.search_text'],
      ['organizations_name_trgm', 'organizations', 'lower(organizations.name)'],
      ['organizations_slug_trgm', 'organizations', 'organizations.slug'],
    ]
    const rollback = new Error('rollback')
    for (const [index, table, expression] of searched) {
      let defs: { probe: string; made: string } | undefined
      await t.db.transaction(async (tx) => {
        await tx.exec(`create index search_probe on ${table} using gin ((${expression}) gin_trgm_ops)`)
        ;[defs] = await tx.query<{ probe: string; made: string }>(
          `select pg_get_indexdef('search_probe'::regclass) as probe, pg_get_indexdef($1::regclass) as made`, [index])
        throw rollback
      }).catch((err) => {
        if (err !== rollback) throw err
      })
      assert.equal(defs!.probe.replace('search_probe', index), defs!.made, expression)
    }
  })

  it('invitations: GET /v1/invitations?query= matches a substring of the address, any case, wildcards literal', async () => {
    await search(async (api, how) => {
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
    await search(async (api, how) => {
      for (const [param, matches] of cases) {
        // 'lee\nann': the end of Ann Lee's name and the start of her username, which the
        // search text joins with a newline; no one field holds it.
        for (const query of [...QUERIES, 'ann lee', 'mac_lee', 'x%y', 'a l', 'n l', 'zoe_', 'lee\nann']) {
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

  it('users: the search follows a changed name and username, and addresses added and removed', async () => {
    const found = async (text: string) => ids((await api.get(`/v1/users?limit=100&query=${q(text)}`)).body)
    const user = (await api.post('/v1/users', { email_address: ['first.qwz@search.test'], username: 'qwzuser', first_name: 'Quentin', last_name: 'Wozniak' })).body
    assert.deepEqual(await found('wozniak'), [user.id], `${engine}: by name`)
    assert.deepEqual(await found('first.qwz'), [user.id], `${engine}: by address`)

    assert.equal((await api.patch(`/v1/users/${user.id}`, { first_name: 'Quinn', last_name: 'Vasquez', username: 'qwzrenamed' })).status, 200)
    assert.deepEqual(await found('quinn vasquez'), [user.id], `${engine}: by the new name`)
    assert.deepEqual(await found('wozniak'), [], `${engine}: not by the old name`)
    assert.deepEqual(await found('qwzrenamed'), [user.id], `${engine}: by the new username`)
    assert.deepEqual(await found('qwzuser'), [], `${engine}: not by the old username`)

    const added = await api.post('/v1/email_addresses', { user_id: user.id, email_address: 'second.qwz@search.test', verified: true })
    assert.equal(added.status, 200, JSON.stringify(added.body))
    assert.deepEqual(await found('second.qwz'), [user.id], `${engine}: by an address added`)
    assert.equal((await api.delete(`/v1/email_addresses/${added.body.id}`)).status, 200)
    assert.deepEqual(await found('second.qwz'), [], `${engine}: not by an address removed`)
    assert.deepEqual(await found('first.qwz'), [user.id], `${engine}: still by the one kept`)
    const [row] = await t.db.query<{ search_text: string }>('select search_text from users where id = $1', [user.id])
    assert.equal(row!.search_text, 'quinn vasquez\nqwzrenamed\nfirst.qwz@search.test')

    assert.equal((await api.delete(`/v1/users/${user.id}`)).status, 200)
    assert.deepEqual(await found('qwz'), [], `${engine}: not once deleted`)
  })

  it('organizations: GET /v1/organizations?query= matches a substring of the name or slug, any case, wildcards literal', async () => {
    await search(async (api, how) => {
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
    await search(async (api, how) => {
      for (const query of QUERIES) {
        const expected = ids(orgInvitations.filter((i) => contains(i.email_address, query)))
        const res = await api.get(`/v1/organization_invitations?limit=100&query=${q(query)}`)
        assert.equal(res.status, 200, JSON.stringify(res.body))
        assert.deepEqual(ids(res.body.data), expected, `${how}: query ${JSON.stringify(query)}`)
        assert.equal(res.body.total_count, expected.length, `${how}: query ${JSON.stringify(query)}`)
      }
    })
  })

  // A text that matches few rows is found, counted and paged in one scan (fewMatchesPage);
  // one that matches more falls back to paging down the order's index and counting apart.
  // Both must answer alike, at both ends of the cap and in either order.
  it(`over ${FEW_MATCHES} matches: the same pages and counts as below it`, async () => {
    const many = FEW_MATCHES + 5
    // Copies of one invitation of each kind under new ids, addresses and tickets, one
    // millisecond apart: made in SQL, as a thousand creates through the API would take long.
    const copy = (table: string, id: string, prefix: string) => t.db.query(`
      insert into ${table}
      select (jsonb_populate_record(null::${table}, to_jsonb(x) || jsonb_build_object(
        'id', x.id || 'c' || n, 'email_address', 'many' || lpad(n::text, 4, '0') || '@${prefix}.test',
        'ticket_hash', x.ticket_hash || n, 'created_at', x.created_at + 1000 + n))).*
      from ${table} x, generate_series(1, $2::int) n where x.id = $1`, [id, many])
    await copy('invitations', invitations[0]!.id, 'bulkinv')
    await copy('organization_invitations', orgInvitations[0]!.id, 'bulkorg')
    const numbers = Array.from({ length: many }, (_, i) => i + 1)
    const address = (n: number, prefix: string) => `many${String(n).padStart(4, '0')}@${prefix}.test`
    // Organizations named `Many0001 bulkco` and so on, slugs `many0001-bulkco`.
    await t.db.query(`
      insert into organizations (id, instance_id, name, slug, created_at, updated_at)
      select $1 || 'c' || n, $2, 'Many' || lpad(n::text, 4, '0') || ' bulkco', 'many' || lpad(n::text, 4, '0') || '-bulkco', 2000000000000 + n, 2000000000000 + n
      from generate_series(1, $3::int) n`, [organizations[0]!.id, (await t.db.query<{ instance_id: string }>('select instance_id from organizations where id = $1', [organizations[0]!.id]))[0]!.instance_id, many])
    const lists = [
      { path: '/v1/invitations?paginated=true', prefix: 'bulkinv', by: '+email_address', id: (n: number) => `${invitations[0]!.id}c${n}` },
      { path: '/v1/organization_invitations?', prefix: 'bulkorg', by: '+email_address', id: (n: number) => `${orgInvitations[0]!.id}c${n}` },
      { path: '/v1/organizations?', prefix: 'bulkco', by: '+name', id: (n: number) => `${organizations[0]!.id}c${n}` },
    ]
    for (const list of lists) {
      const sorted = {
        '-created_at': [...numbers].reverse(),
        [list.by]: [...numbers],
      }
      // 'bulk…' matches every copy; 'many100' matches many0100 and many1000 to many1005; 'many0' a thousand less one.
      for (const [query, matches] of [[list.prefix, numbers], ['many100', numbers.filter((n) => address(n, '').includes('many100'))],
        ['many0', numbers.filter((n) => n < 1000)], ['nomatch', []]] as [string, number[]][]) {
        for (const [order, all] of Object.entries(sorted)) {
          const expected = all.filter((n) => matches.includes(n)).map(list.id)
          for (const [limit, offset] of [[20, 0], [7, 3], [20, expected.length - 5], [10, expected.length + 2]] as [number, number][]) {
            if (offset < 0) continue
            const how = `${engine}: ${list.path} query ${query}, ${order}, limit ${limit} offset ${offset}`
            const res = await api.get(`${list.path}&limit=${limit}&offset=${offset}&order_by=${q(order)}&query=${query}`)
            assert.equal(res.status, 200, `${how}: ${JSON.stringify(res.body)}`)
            assert.deepEqual(ids(res.body.data), expected.slice(offset, offset + limit), how)
            assert.equal(res.body.total_count, expected.length, how)
          }
        }
      }
    }
  })
})

describe('trigramContains: the keys a text is looked up by', () => {
  const write = (text: string) => {
    const params: unknown[] = ['instance']
    const sql = trigramContains('x.email_address', text, params)
    const keys = params.filter((p): p is string => typeof p === 'string' && /^%.*%$/.test(p) && p !== '%' + text + '%')
    return { sql, params, keys: keys.map((k) => k.slice(1, -1)) }
  }

  it('every other trigram of each run of letters and digits, and its last, then the whole text by strpos()', () => {
    const { sql, params, keys } = write('anna.smithu3780@ex')
    assert.deepEqual(keys, ['ann', 'nna', 'smi', 'ith', 'hu3', '378', '780'])
    assert.equal(params.at(-1), 'anna.smithu3780@ex')
    assert.equal(params[0], 'instance', 'appends after the caller\'s parameters')
    assert.equal(sql, `(${keys.map((_, i) => `x.email_address like $${i + 2}`).join(' and ')} and strpos(x.email_address, $${params.length}) > 0)`)
  })

  it('a key taken twice is looked up once', () => {
    assert.deepEqual(write('lee.lee').keys, ['lee'])
  })

  it('at most 16 keys, spread over the text', () => {
    const text = 'kim.quite-long.local-part.0123456789@search.test.example'
    const { keys, params } = write(text)
    assert.ok(keys.length <= 16 && keys.length >= 8, `${keys.length} keys`)
    assert.equal(keys[0], 'kim')
    assert.ok(keys.some((k) => /\d/.test(k)) && keys.some((k) => ['exa', 'amp', 'ple'].includes(k)), keys.join(' '))
    assert.equal(params.at(-1), text)
  })

  it('a text without three ASCII letters or digits in a row is one like, its wildcards literal', () => {
    const params: unknown[] = []
    assert.equal(trigramContains('x.name', 'zoë_%', params), 'x.name like $1')
    assert.deepEqual(params, ['%zoë\\_\\%%'])
  })
})
