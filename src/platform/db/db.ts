/**
 * One interface over the two engines. Stores write plain parameterised SQL against it and
 * never learn which engine runs underneath.
 */
/** A value to match literally inside a LIKE pattern (the default escape character is backslash). */
export const escapeLike = (value: string) => value.replace(/[\\%_]/g, (c) => '\\' + c)

// More keys cost more to plan and each reads another list; past this many, the text is found
// by a sample of its trigrams and strpos() checks the rest.
const MAX_TRIGRAM_KEYS = 16

/**
 * Whether trigramContains finds `text` by trigram keys. Such a statement goes through the
 * trigram indexes whatever the text, so it can keep a cached plan; a text without keys is one
 * `like`, whose plan depends on the text (see queryCustomPlan).
 */
export const hasTrigramKeys = (text: string) => /[a-z0-9]{3}/.test(text.toLowerCase())

/**
 * `expression` contains `text` (both lower-cased), written for the expression's trigram index.
 *
 * pg_trgm makes `like '%text%'` one index key that wants all of the text's trigrams. GIN scans
 * such a key from its rarest trigram: every row holding it is a candidate, looked up in each
 * other trigram's list. When even the rarest is common (an address's `u37` or `mai`), that is
 * thousands of lookups: a pasted address took 48 ms among a million, a surname and four digits
 * 2 ms. Here each of the trigrams that cover the text (every other one, and the last) is a key
 * of its own; GIN intersects keys, each skipping ahead to where the others match, which took
 * 5 ms and 1.2 ms. strpos() then checks the whole text on the rows found.
 *
 * Only ASCII letters and digits are taken for keys, which pg_trgm makes a trigram of in any
 * locale; a text without three of them in a row is matched by `like` alone.
 */
export function trigramContains(expression: string, text: string, params: unknown[]): string {
  const param = (value: unknown) => `$${params.push(value)}`
  const keys = new Set<string>()
  for (const run of text.match(/[a-z0-9]{3,}/g) ?? []) {
    for (let i = 0; i < run.length - 2; i += 2) keys.add(run.slice(i, i + 3))
    keys.add(run.slice(-3))
  }
  if (keys.size === 0) return `${expression} like ${param(`%${escapeLike(text)}%`)}`
  const every = Math.ceil(keys.size / MAX_TRIGRAM_KEYS)
  const sample = [...keys].filter((_, i) => i % every === 0)
  return `(${sample.map((key) => `${expression} like ${param(`%${key}%`)}`).join(' and ')} and strpos(${expression}, ${param(text)}) > 0)`
}

/** PostgreSQL's unique_violation (23505): another writer got there first. */
export const isUniqueViolation = (err: unknown) => (err as { code?: string } | null)?.code === '23505'

export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<T[]>
  /**
   * As query(), but planned for these very values instead of by the statement's cached generic
   * plan. For text search, whose best plan depends on the text: a rare fragment is found through
   * its trigram index, while a common one, or one too short to hold a trigram, is best scanned
   * in the page's order, and only the values tell them apart.
   */
  queryCustomPlan<T = Record<string, unknown>>(sql: string, params: readonly unknown[]): Promise<T[]>
  /** Runs a script of several statements without parameters (migrations only). */
  exec(sql: string): Promise<void>
}

/** `q.query`, or for a text search `q.queryCustomPlan`: its best plan depends on the text. */
export const queryFor = (q: Queryable, textSearch: boolean): Queryable['query'] =>
  textSearch ? (sql, params) => q.queryCustomPlan(sql, params ?? []) : (sql, params) => q.query(sql, params)

/** The most matches a text search finds, counts and pages in one scan (fewMatchesPage). */
export const FEW_MATCHES = 1000

/**
 * A text search's page and its total from one scan, when the text matches at most FEW_MATCHES
 * rows; null when it matches more.
 *
 * A page with a total otherwise scans the trigram index twice, once for the page and once for
 * the count, and joins whatever the page shows to every match. Here the matches' keys are read
 * once into `m` (materialized, and capped so that a common text cannot fill memory), counted,
 * sorted, and only the page's rows are read in full. A text matching more is cheaper the other
 * way: the page read in its order's index until it is full and the count apart. The caller
 * does that on null, having paid for at most FEW_MATCHES + 1 keys.
 *
 * - `matches`: `select <alias>.id, <the order's columns> from … where …`, no order or limit;
 * - `order`: the order over those columns as `m.<column>`, `m.id` last;
 * - `rows`: the full row for the page's `m.id`, such as `select * from invitations i where i.id = m.id`.
 *
 * With `cachedPlan` (a text trigramContains finds by keys, see hasTrigramKeys), the statement
 * keeps a cached plan; otherwise it is planned for its text (queryCustomPlan).
 */
export async function fewMatchesPage<T extends { id: string }>(q: Queryable, s: {
  matches: string
  order: string
  rows: string
  params: readonly unknown[]
  cachedPlan: boolean
  limit: number
  offset: number
}): Promise<{ rows: T[]; total: number } | null> {
  const n = s.params.length
  const found = await queryFor(q, !s.cachedPlan)<T & { total_count: number }>(`
    with matches as materialized (${s.matches} limit ${FEW_MATCHES + 1})
    select r.*, c.n::int8 as total_count
    from (select count(*) as n from matches) c
    left join lateral (select * from matches m order by ${s.order} limit $${n + 1} offset $${n + 2}) m on true
    left join lateral (${s.rows}) r on true
    order by ${s.order}`,
  [...s.params, s.limit, s.offset])
  const total = Number(found[0]!.total_count)
  if (total > FEW_MATCHES) return null
  // No match on the page (none at all, or an offset past the end) still brings the count, on one row of nulls.
  return { rows: found.filter((row) => row.id !== null), total }
}

/** What the connection pool holds right now, for the metrics endpoint. */
export interface PoolStats {
  /** Connections open, busy or idle. */
  total: number
  idle: number
  /** Queries and transactions waiting for a connection. */
  waiting: number
  max: number
}

export interface Db extends Queryable {
  readonly engine: 'pglite' | 'postgres'
  pool(): PoolStats
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>
  /** Ends every connection; a second call does nothing. */
  close(): Promise<void>
}

export interface OpenDbOptions {
  databaseUrl: string | null
  /** PGlite folder; `null` keeps the database in memory (tests). */
  dataDir: string | null
}

export async function openDb(options: OpenDbOptions): Promise<Db> {
  if (options.databaseUrl) {
    const { openPostgres } = await import('./postgres.js')
    return openPostgres(options.databaseUrl)
  }
  const { openPglite } = await import('./pglite.js')
  return openPglite(options.dataDir)
}
