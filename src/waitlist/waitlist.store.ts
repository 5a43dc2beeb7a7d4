import { escapeLike, type Queryable } from '../platform/db/db.js'
import type { WaitlistEntryRow, WaitlistStatus } from './waitlist.schemas.js'

export interface WaitlistFilter {
  instanceId: string
  status: WaitlistStatus | null
  query: string | null
  orderBy: { column: 'created_at' | 'email_address' | 'invited_at'; descending: boolean }
  limit: number
  offset: number
}

// An entry is read with its invitation, and an invited entry whose invitation was accepted
// reads as 'completed': accepting an invitation need not know about the waitlist.
const FROM = 'waitlist_entries w left join invitations i on i.id = w.invitation_id and i.instance_id = w.instance_id'
const STATUS = `(case when w.status = 'invited' and i.status = 'accepted' then 'completed' else w.status end)`
const COLUMNS = `w.id, w.instance_id, w.email_address, ${STATUS} as status, w.invitation_id, w.created_at, w.updated_at, to_jsonb(i) as invitation`
const ORDER = { created_at: 'w.created_at', email_address: 'w.email_address', invited_at: 'i.created_at' } as const


function listWhere(f: WaitlistFilter): { where: string; params: unknown[] } {
  const params: unknown[] = [f.instanceId]
  const clauses = ['w.instance_id = $1']
  if (f.status !== null) {
    params.push(f.status)
    clauses.push(`${STATUS} = $${params.length}`)
  }
  if (f.query !== null) {
    params.push(`%${escapeLike(f.query.toLowerCase())}%`, f.query)
    clauses.push(`(w.email_address like $${params.length - 1} or w.id = $${params.length})`)
  }
  return { where: clauses.join(' and '), params }
}

export function createWaitlistStore() {
  return {
    /** Adds the (lower-cased) address unless it is already on the waitlist; either way, answers its entry. */
    async insert(q: Queryable, entry: { id: string; instanceId: string; emailAddress: string; now: number }): Promise<WaitlistEntryRow> {
      await q.query(`
        insert into waitlist_entries (id, instance_id, email_address, status, created_at, updated_at)
        values ($1, $2, $3, 'pending', $4, $4)
        on conflict (instance_id, email_address) do nothing`,
      [entry.id, entry.instanceId, entry.emailAddress, entry.now])
      return (await this.findByEmail(q, entry.instanceId, entry.emailAddress))!
    },

    async findById(q: Queryable, instanceId: string, id: string): Promise<WaitlistEntryRow | null> {
      const rows = await q.query<WaitlistEntryRow>(`select ${COLUMNS} from ${FROM} where w.id = $1 and w.instance_id = $2`, [id, instanceId])
      return rows[0] ?? null
    },

    async findByEmail(q: Queryable, instanceId: string, emailAddress: string): Promise<WaitlistEntryRow | null> {
      const rows = await q.query<WaitlistEntryRow>(`select ${COLUMNS} from ${FROM} where w.instance_id = $1 and w.email_address = $2`, [instanceId, emailAddress])
      return rows[0] ?? null
    },

    /** The entry, held until the transaction ends: two invites of one entry take turns. */
    async lockById(q: Queryable, instanceId: string, id: string): Promise<WaitlistEntryRow | null> {
      const rows = await q.query<WaitlistEntryRow>(`select ${COLUMNS} from ${FROM} where w.id = $1 and w.instance_id = $2 for update of w`, [id, instanceId])
      return rows[0] ?? null
    },

    /** Guarded: only a pending entry becomes invited; false means it was not pending. */
    async markInvited(q: Queryable, instanceId: string, id: string, invitationId: string, now: number): Promise<boolean> {
      const rows = await q.query(`
        update waitlist_entries set status = 'invited', invitation_id = $3, updated_at = $4
        where id = $1 and instance_id = $2 and status = 'pending' returning id`,
      [id, instanceId, invitationId, now])
      return rows.length > 0
    },

    /** One page and the number of all matches, in one statement (a second only for a page past the end). */
    async page(q: Queryable, f: WaitlistFilter): Promise<{ rows: WaitlistEntryRow[]; total: number }> {
      const { where, params } = listWhere(f)
      const dir = f.orderBy.descending ? 'desc' : 'asc'
      const rows = await q.query<WaitlistEntryRow & { total_count: string | number }>(
        `select ${COLUMNS}, count(*) over () as total_count from ${FROM} where ${where}
         order by ${ORDER[f.orderBy.column]} ${dir} nulls last, w.id ${dir} limit $${params.length + 1} offset $${params.length + 2}`,
        [...params, f.limit, f.offset])
      if (rows.length > 0) return { rows: rows.map(({ total_count: _t, ...r }) => r), total: Number(rows[0]!.total_count) }
      if (f.offset === 0) return { rows: [], total: 0 }
      const counted = await q.query<{ n: string | number }>(`select count(*)::int8 as n from ${FROM} where ${where}`, params)
      return { rows: [], total: Number(counted[0]?.n ?? 0) }
    },
  }
}

export type WaitlistStore = ReturnType<typeof createWaitlistStore>
