import { createHash } from 'node:crypto'
import { createServices } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { systemClock } from '../src/platform/clock.js'
import type { Db } from '../src/platform/db/db.js'
import { migrate } from '../src/platform/db/migrate.js'

export interface Seeded {
  instanceId: string
  rows: number
  seconds: number
}

const BATCH = 100_000
const DAY_MS = 86_400_000
// Spread creation over the past year: 1,000,000 rows × 30 s ≈ 347 days.
const STEP_MS = 30_000

const FIRST = ['anna', 'ben', 'carla', 'david', 'elena', 'farid', 'grace', 'hugo', 'ines', 'jamal', 'kate', 'liam', 'maria', 'noah',
  'olga', 'pedro', 'quinn', 'rosa', 'sam', 'tara', 'umar', 'vera', 'wei', 'xavier', 'yuki', 'zoe', 'ali', 'bea', 'chen', 'dana']
const LAST = ['smith', 'garcia', 'muller', 'rossi', 'dubois', 'kowalski', 'nguyen', 'tanaka', 'silva', 'jensen', 'okafor', 'novak',
  'haddad', 'ivanova', 'kim', 'lopez', 'martin', 'nakamura', 'olsen', 'patel', 'quist', 'reyes', 'schmidt', 'tran', 'weber']
const DOMAINS = ['example.com', 'example.org', 'example.net', 'mail.example.com', 'corp.example.io', 'team.example.dev']

/** The address INSERT_BATCH gives row `n`, e.g. `anna.smith0@example.com`. */
export const seededEmail = (n: number) =>
  `${FIRST[n % FIRST.length]}.${LAST[Math.floor(n / FIRST.length) % LAST.length]}${n}@${DOMAINS[Math.floor(n / 7) % DOMAINS.length]}`

/** SQL for the `width` base62 digits of a non-negative int8 expression, most significant first. */
const base62Digits = (expr: string, width: number) => Array.from({ length: width }, (_, i) =>
  `substr(a.chars, (${expr} / ${62 ** (width - 1 - i)} % 62)::int + 1, 1)`).join(' || ')

const sqlArray = (values: string[]) => `array[${values.map((v) => `'${v}'`).join(',')}]`

/**
 * Inserts rows n = $4 … $4+$3-1 in SQL alone. Tickets are real: HMAC-SHA256(server secret,
 * "<id>:<nonce>") is computed from the core sha256() with the key's inner and outer pads
 * ($5, $6), so each seeded link would redeem, and ticket_hash is unique as in production.
 * Ids are KSUID-shaped: 27 base62 characters, creation seconds first.
 */
const INSERT_BATCH = `
  insert into invitations (id, instance_id, email_address, public_metadata, redirect_url, status, notify, template_slug,
                           ticket_nonce, ticket_hash, expires_at, created_at, updated_at)
  select r.id, $1, r.email, '{}', null, r.status, r.n % 4 = 0, 'invitation', r.nonce,
         encode(sha256(convert_to(rtrim(translate(encode(
           sha256($6::bytea || sha256($5::bytea || convert_to(r.id || ':' || r.nonce, 'UTF8'))), 'base64'), '+/', '-_'), '='), 'UTF8')), 'hex'),
         $2::int8 + (1 + r.n % 30) * ${DAY_MS},
         r.created,
         case when r.status = 'pending' then r.created else least(r.created + 3600000, $2::int8) end
  from (
    select s.n, s.created,
           'inv_' || ${base62Digits('s.sec', 6)} || substr(translate(encode(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()), 'base64'), '+/=', 'xyz'), 1, 21) as id,
           (${sqlArray(FIRST)})[1 + s.n % ${FIRST.length}] || '.' || (${sqlArray(LAST)})[1 + (s.n / ${FIRST.length}) % ${LAST.length}]
             || s.n || '@' || (${sqlArray(DOMAINS)})[1 + (s.n / 7) % ${DOMAINS.length}] as email,
           case when s.n % 100 < 90 then 'pending' when s.n % 100 < 97 then 'accepted' else 'revoked' end as status,
           rtrim(translate(encode(uuid_send(gen_random_uuid()), 'base64'), '+/', '-_'), '=') as nonce
    from (select n, $2::int8 - ($7::int8 - n) * ${STEP_MS} as created, ($2::int8 - ($7::int8 - n) * ${STEP_MS}) / 1000 - 1400000000 as sec
          from generate_series($4::int8, $4::int8 + $3::int8 - 1) n) s,
         (select '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz' as chars) a
  ) r`

/** HMAC's inner and outer padded keys, so SQL can compute HMAC-SHA256 with sha256() alone. */
function hmacPads(key: Buffer): { ipad: Buffer; opad: Buffer } {
  const block = Buffer.alloc(64)
  ;(key.length > 64 ? createHash('sha256').update(key).digest() : key).copy(block)
  return { ipad: Buffer.from(block.map((b) => b ^ 0x36)), opad: Buffer.from(block.map((b) => b ^ 0x5c)) }
}

/**
 * Drops a table's indexes and constraints (keys, foreign keys, and other tables' foreign keys
 * to it) and returns the statements that restore them. Maintaining the invitations' indexes
 * and the foreign-key check row by row made 100,000 rows take 7–11 s here; building each index
 * once at the end is several times faster.
 */
async function dropKeysAndIndexes(db: Db, table: string): Promise<string[]> {
  // Other tables' foreign keys to it hang on its primary key: they go first and come back last.
  const references = await db.query<{ name: string; table: string; def: string }>(`
    select conname as name, conrelid::regclass::text as table, pg_get_constraintdef(oid) as def from pg_constraint
    where confrelid = $1::regclass and conrelid <> $1::regclass and contype = 'f'`, [table])
  for (const r of references) await db.exec(`alter table ${r.table} drop constraint ${r.name}`)
  const constraints = await db.query<{ name: string; def: string }>(`
    select conname as name, pg_get_constraintdef(oid) as def from pg_constraint
    where conrelid = $1::regclass and contype in ('p', 'u', 'f')`, [table])
  const indexes = await db.query<{ name: string; def: string }>(`
    select indexname as name, indexdef as def from pg_indexes
    where schemaname = current_schema() and tablename = $1
      and indexname not in (select conname from pg_constraint where conrelid = $1::regclass)`, [table])
  for (const c of constraints) await db.exec(`alter table ${table} drop constraint ${c.name}`)
  for (const i of indexes) await db.exec(`drop index ${i.name}`)
  return [
    ...constraints.map((c) => `alter table ${table} add constraint ${c.name} ${c.def}`),
    ...indexes.map((i) => i.def),
    ...references.map((r) => `alter table ${r.table} add constraint ${r.name} ${r.def}`),
  ]
}

/**
 * Migrates `db`, creates the default instance with `secretKey`, and inserts `rows`
 * invitations into it, keeping invitation_counts equal to the rows. Stops early (and says
 * how far it got) when `budgetSeconds` runs out, which only a slow engine reaches.
 */
export async function seed(db: Db, opts: {
  secretKey: string
  serverSecret: Buffer
  rows: number
  budgetSeconds?: number
  progress?: (done: number, seconds: number) => void
}): Promise<Seeded> {
  await migrate(db)
  const config = loadConfig({ FOYER_SECRET_KEY: opts.secretKey, LOG_LEVEL: 'warn' })
  const { instances } = createServices({ config, db, clock: systemClock(), serverSecret: opts.serverSecret })
  const { instance } = await instances.bootstrap(opts.secretKey)

  const { ipad, opad } = hmacPads(opts.serverSecret)
  const now = Date.now()
  const started = performance.now()
  const elapsed = () => (performance.now() - started) / 1000
  const rebuild = await dropKeysAndIndexes(db, 'invitations')
  let done = 0
  while (done < opts.rows && (opts.budgetSeconds === undefined || elapsed() < opts.budgetSeconds)) {
    const size = Math.min(BATCH, opts.rows - done)
    await db.query(INSERT_BATCH, [instance.id, now, size, done, ipad, opad, opts.rows])
    done += size
    opts.progress?.(done, elapsed())
  }
  for (const statement of rebuild) await db.exec(statement)
  await db.query('delete from invitation_counts where instance_id = $1', [instance.id])
  await db.query(`insert into invitation_counts (instance_id, status, shard, n)
                  select instance_id, status, 0, count(*) from invitations where instance_id = $1 group by instance_id, status`, [instance.id])
  await db.exec('vacuum analyze')
  return { instanceId: instance.id, rows: done, seconds: elapsed() }
}

/** A person signed in: their session, and the browser's Foyer cookie (`name=value`) that carries it. */
export interface SeededSession {
  sessionId: string
  cookie: string
}

/**
 * `n` people signed up the way the product signs them up, on a running Foyer: invitations
 * created through the Backend API (bulk, `notify: false`), each redeemed by a ticket sign-up
 * on the Frontend API, as a browser page on `origin` would, with a password. Four at a time:
 * each sign-up hashes its password (scrypt) on Foyer's thread pool, which has four threads.
 */
export async function seedSessions(opts: { url: string; secretKey: string; n: number; origin: string; tag: string }): Promise<SeededSession[]> {
  const auth = { authorization: `Bearer ${opts.secretKey}`, 'content-type': 'application/json' }
  const tickets: string[] = []
  for (let i = 0; i < opts.n; i += 10) {
    const body = Array.from({ length: Math.min(10, opts.n - i) }, (_, j) => ({ email_address: `session.${opts.tag}.${i + j}@example.com`, notify: false }))
    const res = await fetch(`${opts.url}/v1/invitations/bulk`, { method: 'POST', headers: auth, body: JSON.stringify(body) })
    if (!res.ok) throw new Error(`POST /v1/invitations/bulk answered ${res.status}: ${await res.text()}`)
    for (const invitation of await res.json() as { url: string }[]) tickets.push(new URL(invitation.url).searchParams.get('ticket')!)
  }

  const sessions: SeededSession[] = []
  const signUp = async (ticket: string) => {
    const res = await fetch(`${opts.url}/v1/client/sign_ups`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: opts.origin },
      body: JSON.stringify({ strategy: 'ticket', ticket, password: 'bench password 1234' }),
    })
    const answer = await res.json() as { response?: { created_session_id?: string } }
    const cookie = (res.headers.getSetCookie?.() ?? []).map((c) => c.split(';')[0]!).find((c) => /^__(Host-)?foyer_session=./.test(c))
    const sessionId = answer.response?.created_session_id
    if (res.status !== 200 || !cookie || !sessionId) throw new Error(`POST /v1/client/sign_ups answered ${res.status} without a session: ${JSON.stringify(answer)}`)
    sessions.push({ sessionId, cookie })
  }
  let next = 0
  await Promise.all(Array.from({ length: 4 }, async () => {
    while (next < tickets.length) await signUp(tickets[next++]!)
  }))
  return sessions
}

/** The address seedUsers gives user `n`: seededEmail's with `u` before the number (`anna.smithu0@…`). */
export const seededUserEmail = (n: number) => seededEmail(n).replace(/(\d+)@/, 'u$1@')

/**
 * Inserts users n = $2 … $2+$3-1, each with a first and last name and one verified address,
 * its primary. Ids are made of the row number, not KSUIDs: searches match them only as whole
 * ids, which no fragment is.
 */
const USER_BATCH = `
  with s as (
    select n, $4::int8 - ($5::int8 - n) * ${STEP_MS} as created,
           (${sqlArray(FIRST)})[1 + n % ${FIRST.length}] as first, (${sqlArray(LAST)})[1 + (n / ${FIRST.length}) % ${LAST.length}] as last,
           (${sqlArray(DOMAINS)})[1 + (n / 7) % ${DOMAINS.length}] as domain
    from generate_series($2::int8, $2::int8 + $3::int8 - 1) n
  ), u as (
    insert into users (id, instance_id, first_name, last_name, primary_email_address_id, created_at, updated_at, search_text)
    select 'user_bench' || lpad(n::text, 17, '0'), $1, initcap(first), initcap(last), 'idn_bench' || lpad(n::text, 18, '0'), created, created,
      first || ' ' || last || E'\n' || E'\n' || first || '.' || last || 'u' || n || '@' || domain from s
  )
  insert into email_addresses (id, instance_id, user_id, email_address, verification_strategy, verified_at, created_at)
  select 'idn_bench' || lpad(n::text, 18, '0'), $1, 'user_bench' || lpad(n::text, 17, '0'), first || '.' || last || 'u' || n || '@' || domain, 'admin', created, created from s`

/**
 * Inserts `n` users into the instance, as seed() does invitations: indexes and keys of both
 * tables dropped first and rebuilt once at the end, then vacuum analyze.
 */
export async function seedUsers(db: Db, instanceId: string, n: number, progress?: Progress): Promise<{ rows: number; seconds: number }> {
  const now = Date.now()
  // email_addresses first: its foreign key to users goes with it, and comes back after users' keys.
  // The batch writes each user's search text itself (as migration 036's triggers would, row by
  // row and through the indexes dropped here); the triggers are off meanwhile.
  const triggers = [['users', 'users_search_text'], ['email_addresses', 'email_addresses_search_text']]
  for (const [table, trigger] of triggers) await db.exec(`alter table ${table} disable trigger ${trigger}`)
  try {
    return await bulkSeed(db, ['email_addresses', 'users'], n, (done, size) => db.query(USER_BATCH, [instanceId, done, size, now, n]), progress)
  } finally {
    for (const [table, trigger] of triggers) await db.exec(`alter table ${table} enable trigger ${trigger}`)
  }
}

type Progress = (done: number, seconds: number) => void

/**
 * Inserts `n` rows in batches of BATCH with `insert(done, size)`, with the keys and indexes of
 * `tables` dropped first (in that order) and rebuilt once at the end, then vacuum analyze.
 */
async function bulkSeed(db: Db, tables: string[], n: number, insert: (done: number, size: number) => Promise<unknown>, progress?: Progress): Promise<{ rows: number; seconds: number }> {
  const started = performance.now()
  const elapsed = () => (performance.now() - started) / 1000
  const rebuild: string[] = []
  for (const table of tables) rebuild.push(...await dropKeysAndIndexes(db, table))
  for (let done = 0; done < n; done += BATCH) {
    await insert(done, Math.min(BATCH, n - done))
    progress?.(Math.min(done + BATCH, n), elapsed())
  }
  for (const statement of orderForRebuild(rebuild)) await db.exec(statement)
  for (const table of tables) await db.exec(`vacuum analyze ${table}`)
  return { rows: n, seconds: elapsed() }
}

/** The address seedOrgInvitations gives row `n`: seededEmail's with `o` before the number (`anna.smitho0@…`). */
export const seededOrgInvitationEmail = (n: number) => seededEmail(n).replace(/(\d+)@/, 'o$1@')

/** The organizations seedOrgInvitations spreads its invitations over. */
const SEEDED_ORGANIZATIONS = 10

/**
 * Inserts organization invitations n = $2 … $2+$3-1 over the organizations in $6, a third each
 * pending, accepted and revoked, pending ones expiring a month after the seed.
 */
const ORG_INVITATION_BATCH = `
  insert into organization_invitations (id, instance_id, organization_id, email_address, role, status, ticket_nonce, ticket_hash,
    expires_at, created_at, updated_at)
  select 'orginv_bench' || lpad(n::text, 15, '0'), $1, ($6::text[])[1 + n % cardinality($6::text[])],
    (${sqlArray(FIRST)})[1 + n % ${FIRST.length}] || '.' || (${sqlArray(LAST)})[1 + (n / ${FIRST.length}) % ${LAST.length}]
      || 'o' || n || '@' || (${sqlArray(DOMAINS)})[1 + (n / 7) % ${DOMAINS.length}],
    'org:member', (array['pending', 'accepted', 'revoked'])[1 + n % 3], 'bench', 'bench' || n,
    $4::int8 + 30 * 86400000::int8, $4::int8 - ($5::int8 - n) * ${STEP_MS}, $4::int8 - ($5::int8 - n) * ${STEP_MS}
  from generate_series($2::int8, $2::int8 + $3::int8 - 1) n`

/**
 * Inserts `n` organization invitations into the instance, spread over ten organizations of
 * their own, as seed() does invitations: keys and indexes dropped first and rebuilt once at the
 * end, then vacuum analyze.
 */
export async function seedOrgInvitations(db: Db, instanceId: string, n: number, progress?: Progress): Promise<{ rows: number; seconds: number }> {
  const now = Date.now()
  const orgIds = Array.from({ length: SEEDED_ORGANIZATIONS }, (_, i) => `org_bench${String(i).padStart(18, '0')}`)
  await db.query(`
    insert into organizations (id, instance_id, name, slug, created_at, updated_at)
    select id, $1, 'Bench ' || i, 'bench-' || i, $3, $3 from unnest($2::text[]) with ordinality as t(id, i)`, [instanceId, orgIds, now])
  return bulkSeed(db, ['organization_invitations'], n, (done, size) => db.query(ORG_INVITATION_BATCH, [instanceId, done, size, now, n, orgIds]), progress)
}

/** Primary and unique keys first, then indexes, then foreign keys, which need the keys they point at. */
function orderForRebuild(statements: string[]): string[] {
  const rank = (s: string) => (/foreign key/i.test(s) ? 2 : /add constraint/i.test(s) ? 0 : 1)
  return [...statements].sort((a, b) => rank(a) - rank(b))
}

/** The slug seedOrganizations gives organization `n`: seededEmail's name with `g` before the number (`anna-smithg0`). */
export const seededOrganizationSlug = (n: number) => seededEmail(n).replace(/^([a-z]+)\.([a-z]+)(\d+)@.*$/, '$1-$2g$3')

/** Inserts organizations n = $2 … $2+$3-1, named `Anna Smith Group n` with seededOrganizationSlug's slugs. */
const ORGANIZATION_BATCH = `
  with s as (
    select n, (${sqlArray(FIRST)})[1 + n % ${FIRST.length}] as first, (${sqlArray(LAST)})[1 + (n / ${FIRST.length}) % ${LAST.length}] as last,
      $4::int8 - ($5::int8 - n) * ${STEP_MS} as created
    from generate_series($2::int8, $2::int8 + $3::int8 - 1) n
  )
  insert into organizations (id, instance_id, name, slug, created_at, updated_at)
  select 'org_benchs' || lpad(n::text, 17, '0'), $1, initcap(first) || ' ' || initcap(last) || ' Group ' || n, first || '-' || last || 'g' || n, created, created
  from s`

/** Inserts `n` organizations into the instance, as seed() does invitations. */
export async function seedOrganizations(db: Db, instanceId: string, n: number, progress?: Progress): Promise<{ rows: number; seconds: number }> {
  const now = Date.now()
  return bulkSeed(db, ['organizations'], n, (done, size) => db.query(ORGANIZATION_BATCH, [instanceId, done, size, now, n]), progress)
}
