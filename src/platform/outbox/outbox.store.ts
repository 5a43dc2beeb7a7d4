import type { Queryable } from '../db/db.js'
import { outboxJson } from '../audit/audit.js'

export interface OutboxRow {
  id: string
  instance_id: string
  kind: string
  topic: string
  subject_id: string | null
  payload: unknown
  /** 'pending' | 'sending' | 'delivered' | 'failed' */
  status: string
  attempts: number
  next_attempt_at: number
  claimed_until: number | null
  last_error: string | null
  delivered_at: number | null
  result: unknown
  created_at: number
  updated_at: number
}

/** An outbox row written by the same statement as the change that causes it (see outboxCte). */
export interface OutboxItem {
  id: string
  kind: 'email' | 'webhook'
  topic: string
  payload: unknown
  /** For a change to metadata: which keys changed, for its audit record (never the values). */
  changedKeys?: string[]
}

/**
 * A CTE `queued` adding the outbox rows in `outboxParam` (a JSON array of OutboxItem) for the
 * row in CTE `inv`, due at the wall time in `queuedAtParam`: the outbox worker runs on wall
 * time, whatever an instance's test clock says.
 */
export const outboxCte = (queuedAtParam: string, outboxParam: string) => `
  queued as (
    insert into outbox (id, instance_id, kind, topic, subject_id, payload, next_attempt_at, created_at, updated_at)
    select o->>'id', inv.instance_id, o->>'kind', o->>'topic', inv.id, o->'payload', ${queuedAtParam}, ${queuedAtParam}, ${queuedAtParam}
    from inv, jsonb_array_elements(${outboxParam}::jsonb) o
  )`

export interface NewOutboxItem {
  id: string
  instanceId: string
  kind: string
  topic: string
  subjectId: string | null
  payload: unknown
  nextAttemptAt: number
  /** For a change to metadata: which keys changed, for its audit record (never the values). */
  changedKeys?: string[]
}

export function createOutboxStore() {
  return {
    /**
     * Queues items; called inside the transaction of the change that causes them. An id
     * already queued is left as it is (derived ids make a repeated enqueue a no-op). Each
     * webhook event is also the change's audit record (see outboxJson).
     */
    async enqueue(q: Queryable, items: NewOutboxItem[], now: number): Promise<void> {
      if (items.length === 0) return
      await q.query(`
        insert into outbox (id, instance_id, kind, topic, subject_id, payload, next_attempt_at, created_at, updated_at)
        select i->>'id', i->>'instanceId', i->>'kind', i->>'topic', i->>'subjectId', i->'payload', (i->>'nextAttemptAt')::bigint, $2, $2
        from jsonb_array_elements($1::jsonb) i
        on conflict (id) do nothing`,
      [outboxJson(items), now])
    },

    /**
     * Claims up to `limit` due items of the given kinds until `leaseUntil`: pending items
     * whose time has come, and items whose previous claim's lease ran out. SKIP LOCKED lets
     * several processes claim side by side without waiting on, or taking, each other's rows.
     * A claim counts as an attempt, so an item that kills its process cannot loop forever.
     *
     * Lapsed leases first, then due items, each read in index order up to the limit. One scan
     * for both (an OR) was a bitmap scan, which reads every entry of both partial indexes up to
     * now, and until vacuum those include one dead entry for each item sent since: under a
     * steady load every claim read more than the one before. An ordered index scan stops at
     * the limit and marks the dead entries it steps over, so the next claim skips them.
     *
     * Claiming a pending item moves the audit record riding in it into audit_logs, by the same
     * statement (migration 035): a batch of records costs about what one insert of them does.
     */
    async claim(q: Queryable, kinds: string[], now: number, leaseUntil: number, limit: number): Promise<OutboxRow[]> {
      return q.query<OutboxRow>(`
        with lapsed as (
          select id from outbox
          where status = 'sending' and claimed_until <= $1 and kind = any($4::text[])
          order by claimed_until, id
          limit $3
          for update skip locked
        ), due as (
          select id from outbox
          where status = 'pending' and next_attempt_at <= $1 and kind = any($4::text[])
          order by next_attempt_at, id
          limit $3 - (select count(*) from lapsed)
          for update skip locked
        ), archived as (
          insert into audit_logs (id, seq, instance_id, actor_type, actor_id, actor_label, action, target_type, target_id,
            target_label, changed_keys, client_ip, trace_id, created_at)
          overriding system value
          select id, seq, instance_id, actor_type, actor_id, actor_label, action, target_type, target_id,
            target_label, changed_keys, client_ip, trace_id, created_at
          from outbox_audit_pending where outbox_id in (select id from due)
          on conflict (id) do nothing
        )
        update outbox o set status = 'sending', claimed_until = $2, attempts = o.attempts + 1, updated_at = $1, audit = null
        where o.id in (select id from lapsed union all select id from due)
        returning o.*`,
      [now, leaseUntil, limit, kinds])
    },

    /**
     * Marks a batch delivered in one statement. Each item is guarded by its own lease: one
     * whose lease ran out (and was claimed again elsewhere) is left alone.
     */
    async markDelivered(q: Queryable, items: { id: string; claimedUntil: number; result: unknown }[], now: number): Promise<number> {
      if (items.length === 0) return 0
      const rows = await q.query(`
        update outbox o set status = 'delivered', delivered_at = $2, result = d.result, claimed_until = null, last_error = null, updated_at = $2
        from jsonb_to_recordset($1::jsonb) as d(id text, "claimedUntil" bigint, result jsonb)
        where o.id = d.id and o.status = 'sending' and o.claimed_until = d."claimedUntil" returning o.id`,
      [JSON.stringify(items.map((i) => ({ ...i, result: i.result ?? null }))), now])
      return rows.length
    },

    /** Schedules another attempt at `nextAttemptAt`, or with null gives up: the item stays, as 'failed'. */
    async markFailed(q: Queryable, id: string, claimedUntil: number, now: number, error: string, nextAttemptAt: number | null): Promise<boolean> {
      const rows = await q.query(`
        update outbox set status = case when $5::bigint is null then 'failed' else 'pending' end,
          next_attempt_at = coalesce($5::bigint, next_attempt_at), last_error = $4, claimed_until = null, updated_at = $3
        where id = $1 and status = 'sending' and claimed_until = $2 returning id`,
      [id, claimedUntil, now, error, nextAttemptAt])
      return rows.length > 0
    },

    /**
     * Per kind, the items not yet delivered (pending or being sent) and since when the longest
     * waiting of them has been due: a pending item from its attempt time, a claimed one from
     * the end of a lease nobody renewed. Written as an OR of the two statuses so that the two
     * partial indexes (outbox_due, outbox_leases) answer it, not a scan of delivered history.
     */
    async depthByKind(q: Queryable, now: number): Promise<{ kind: string; depth: number; oldest_due_at: number | null }[]> {
      return q.query(`
        select kind, count(*)::int as depth,
          min(case when status = 'pending' then next_attempt_at else claimed_until end)
            filter (where (status = 'pending' and next_attempt_at <= $1) or (status = 'sending' and claimed_until <= $1)) as oldest_due_at
        from outbox
        where status = 'pending' or status = 'sending'
        group by kind`,
      [now])
    },

    /** Hands claimed items that were never started back, as if never claimed (shutdown). */
    async release(q: Queryable, ids: string[], claimedUntil: number, now: number): Promise<void> {
      if (ids.length === 0) return
      await q.query(`
        update outbox set status = 'pending', claimed_until = null, attempts = attempts - 1, updated_at = $3
        where id = any($1::text[]) and status = 'sending' and claimed_until = $2`,
      [ids, claimedUntil, now])
    },
  }
}

export type OutboxStore = ReturnType<typeof createOutboxStore>
