import type { Queryable } from '../db/db.js'

export interface AuditLogRow {
  id: string
  /** Null for a change to the server itself: the team of operators. */
  instance_id: string | null
  actor_type: string
  actor_id: string | null
  actor_label: string | null
  action: string
  target_type: string | null
  target_id: string | null
  target_label: string | null
  changed_keys: string[] | null
  client_ip: string | null
  trace_id: string | null
  created_at: number
}

export interface AuditFilter {
  actorId?: string | undefined
  action?: string | undefined
  targetId?: string | undefined
  /** Inclusive, Unix ms. */
  createdAfter?: number | undefined
  /** Exclusive, Unix ms. */
  createdBefore?: number | undefined
}

function where(instanceId: string | null, f: AuditFilter): { sql: string; params: unknown[] } {
  const params: unknown[] = instanceId === null ? [] : [instanceId]
  const parts = [instanceId === null ? 'instance_id is null' : 'instance_id = $1']
  const add = (clause: string, value: unknown) => {
    params.push(value)
    parts.push(clause.replace('?', `$${params.length}`))
  }
  if (f.actorId !== undefined) add('actor_id = ?', f.actorId)
  if (f.action !== undefined) add('action = ?', f.action)
  if (f.targetId !== undefined) add('target_id = ?', f.targetId)
  if (f.createdAfter !== undefined) add('created_at >= ?', f.createdAfter)
  if (f.createdBefore !== undefined) add('created_at < ?', f.createdBefore)
  return { sql: parts.join(' and '), params }
}

/**
 * The audit log's reads and its two sanctioned writes besides inserts (retention, erasure;
 * migration 032's trigger refuses any other update or delete). Inserts are in audit.ts.
 */
export function createAuditStore() {
  return {
    /**
     * Newest first; the page and the number of all matches. A null instance lists the records
     * of the server itself (operators). Records still riding in the outbox (migration 035) are
     * read with the rest, so a change's record is there as soon as the change is.
     */
    async list(q: Queryable, instanceId: string | null, f: AuditFilter, limit: number, offset: number): Promise<{ rows: AuditLogRow[]; total: number }> {
      const { sql, params } = where(instanceId, f)
      const [rows, counted] = await Promise.all([
        q.query<AuditLogRow & { seq?: unknown }>(`select * from audit_log_entries where ${sql} order by created_at desc, seq desc limit $${params.length + 1} offset $${params.length + 2}`,
          [...params, limit, offset]),
        q.query<{ n: number }>(`select count(*)::int as n from audit_log_entries where ${sql}`, params),
      ])
      return { rows: rows.map(({ seq: _seq, ...r }) => ({ ...r, created_at: Number(r.created_at) })), total: counted[0]?.n ?? 0 }
    },

    /**
     * Records made before `before`, at most `limit`, in no particular order (the BRIN index
     * of migration 033 finds old pages, not an order): one short statement (see the retention
     * store). The setting lets this statement past the immutability trigger;
     * it is evaluated once, before any row is deleted.
     */
    prune(q: Queryable, before: number, limit: number) {
      return q.query<{ id: string }>(`
        delete from audit_logs where set_config('foyer.audit_maintenance', 'on', true) = 'on' and id = any(array(
          select id from audit_logs where created_at < $1
          limit $2
          for update skip locked))
        returning id`, [before, limit])
    },
  }
}

export type AuditStore = ReturnType<typeof createAuditStore>
