import type { Queryable } from '../platform/db/db.js'

export type ListName = 'allowlist' | 'blocklist'

export interface ListedIdentifierRow {
  id: string
  instance_id: string
  list: ListName
  identifier: string
  invitation_id: string | null
  created_at: number
  updated_at: number
}

/** What an address matches on a list: itself, or its whole domain. */
const matchesOf = (email: string) => {
  const address = email.trim().toLowerCase()
  return [address, `*@${address.slice(address.lastIndexOf('@') + 1)}`]
}

export function createRestrictionStore() {
  return {
    /** Throws a unique violation (23505) when the list already holds the identifier. */
    async insert(q: Queryable, row: ListedIdentifierRow): Promise<void> {
      await q.query(`insert into listed_identifiers (id, instance_id, list, identifier, invitation_id, created_at, updated_at)
        values ($1, $2, $3, $4, $5, $6, $7)`,
      [row.id, row.instance_id, row.list, row.identifier, row.invitation_id, row.created_at, row.updated_at])
    },

    /** Newest first. */
    async page(q: Queryable, instanceId: string, list: ListName, limit: number, offset: number): Promise<{ rows: ListedIdentifierRow[]; total: number }> {
      const rows = await q.query<ListedIdentifierRow>(`select * from listed_identifiers where instance_id = $1 and list = $2
        order by created_at desc, id desc limit $3 offset $4`, [instanceId, list, limit, offset])
      const count = await q.query<{ n: string | number }>('select count(*)::int8 as n from listed_identifiers where instance_id = $1 and list = $2', [instanceId, list])
      return { rows, total: Number(count[0]?.n ?? 0) }
    },

    async remove(q: Queryable, instanceId: string, list: ListName, id: string): Promise<boolean> {
      const rows = await q.query('delete from listed_identifiers where id = $1 and instance_id = $2 and list = $3 returning id', [id, instanceId, list])
      return rows.length > 0
    },

    /** Whether the list holds the address itself or its domain. */
    async isListed(q: Queryable, instanceId: string, list: ListName, email: string): Promise<boolean> {
      const rows = await q.query(`select 1 from listed_identifiers where instance_id = $1 and list = $2 and identifier = any($3::text[]) limit 1`,
        [instanceId, list, matchesOf(email)])
      return rows.length > 0
    },

    /** The addresses of `emails` that the list holds, themselves or by their domain: one query for a batch. */
    async listedAmong(q: Queryable, instanceId: string, list: ListName, emails: readonly string[]): Promise<Set<string>> {
      const rows = await q.query<{ identifier: string }>(`select identifier from listed_identifiers where instance_id = $1 and list = $2 and identifier = any($3::text[])`,
        [instanceId, list, [...new Set(emails.flatMap(matchesOf))]])
      const listed = new Set(rows.map((r) => r.identifier))
      return new Set(emails.filter((email) => matchesOf(email).some((m) => listed.has(m))))
    },

    async hasEntries(q: Queryable, instanceId: string, list: ListName): Promise<boolean> {
      return (await q.query('select 1 from listed_identifiers where instance_id = $1 and list = $2 limit 1', [instanceId, list])).length > 0
    },
  }
}

export type RestrictionStore = ReturnType<typeof createRestrictionStore>
