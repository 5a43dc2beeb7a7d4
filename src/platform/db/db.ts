/**
 * One interface over the two engines. Stores write plain parameterised SQL against it and
 * never learn which engine runs underneath.
 */
/** A value to match literally inside a LIKE pattern (the default escape character is backslash). */
export const escapeLike = (value: string) => value.replace(/[\\%_]/g, (c) => '\\' + c)

/**
 * Whether pg_trgm can look `text` up in a trigram index as a LIKE '%text%' pattern: only
 * letters and digits make trigrams, so three of them in a row are sure to make one. Without
 * one, the index would have to read all of itself.
 */
export const hasTrigram = (text: string) => /[\p{L}\p{N}]{3}/u.test(text)

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
