import { escapeLike, fewMatchesPage, hasTrigramKeys, queryFor, trigramContains, type Queryable } from '../platform/db/db.js'
import { DAY_MS } from '../platform/clock.js'
import type { InvitationRow, InvitationStatus } from './invitations.schemas.js'
import { outboxCte, type OutboxItem } from '../platform/outbox/outbox.store.js'
import { eraseSignUpTraces } from '../accept/erasure.js'
import { outboxJson } from '../platform/audit/audit.js'

/** An invitation about to be inserted: its row, less what the insert itself sets. */
export type NewInvitation = Omit<InvitationRow, 'status'>

/** One invitation to insert: its row, the events and email it queues, and the rules it must pass. */
export interface NewInvitationWrite {
  invitation: NewInvitation
  outbox: OutboxItem[]
  rules: { lockKey: bigint | null; requireNoPending: boolean; requireNoUser: boolean }
}

export interface ListFilter {
  instanceId: string
  status: InvitationStatus | null
  query: string | null
  orderBy: { column: 'created_at' | 'email_address' | 'expires_at'; descending: boolean }
  limit: number
  offset: number
  now: number
}

// Every statement of one transaction updates the same shard (chosen by its transaction id):
// two transactions that each touched several shards could lock them in opposite orders and
// deadlock. Within a statement, 'pending' always comes first for the same reason.
const SHARD = `(txid_current() % 16)::smallint`

// Moves the row in CTE `inv` between per-status counts.
const countsCte = (changes: string) => `
  counted as (
    insert into invitation_counts (instance_id, status, shard, n)
    select inv.instance_id, c.status, ${SHARD}, c.delta from inv, (values ${changes}) as c(status, delta)
    on conflict (instance_id, status, shard) do update set n = invitation_counts.n + excluded.n
  )`

/** Appends to `params` only what the clause uses: PostgreSQL refuses a parameter it cannot type. */
function statusClause(status: InvitationStatus | null, now: number, params: unknown[]): string {
  switch (status) {
    case null: return `status <> 'revoked'`
    case 'accepted': return `status = 'accepted'`
    case 'revoked': return `status = 'revoked'`
    case 'pending':
      params.push(now)
      return `status = 'pending' and expires_at > $${params.length}`
    case 'expired':
      params.push(now)
      return `status = 'pending' and expires_at <= $${params.length}`
  }
}


/** A row the sweep marked, with its instance's clock offset (the time its event is stamped with). */
export type SweptRow<T> = T & { clock_offset_ms: number }

/**
 * When the invitation `d` of instance `di` is due a reminder, at wall time $1 ($3 = one day):
 * inside the reminder window and still unexpired, and created before the window opened (an
 * invitation sent inside it was just emailed). Shared with organization invitations.
 */
/*
 * What the sweeps select, as `d` joined to its instance `di`; $1 is wall time now, $3 a day in
 * ms. Each instance's own window depends on its clock offset and reminder days, which no index
 * can follow; the bounds over every instance come first, so the scan of the partial index is a
 * range over the due window rather than every pending invitation (a million of them, say, each
 * sweep), and the exact condition filters within it.
 */
export const EXPIRY_DUE = `d.status = 'pending' and d.expired_event_at is null
  and d.expires_at <= $1 + (select max(clock_offset_ms) from instances)
  and d.expires_at <= $1 + di.clock_offset_ms`

export const REMINDER_DUE = `d.status = 'pending' and d.reminded_at is null and d.notify and di.remind_before_expiry_days > 0
  and d.expires_at > $1 + (select min(clock_offset_ms) from instances)
  and d.expires_at <= $1 + (select max(clock_offset_ms + remind_before_expiry_days * $3::bigint) from instances)
  and d.expires_at > $1 + di.clock_offset_ms
  and d.expires_at - di.remind_before_expiry_days * $3::bigint <= $1 + di.clock_offset_ms
  and d.created_at < d.expires_at - di.remind_before_expiry_days * $3::bigint`

export function createInvitationStore() {
  return {
    /**
     * Inserts the invitation with its outbox rows and count, in one round trip (see migration
     * 002). With a lock key, takes that address lock first, then inserts nothing (returns
     * null) when `requireNoPending` finds a usable pending invitation for the address or
     * `requireNoUser` finds a user holding it.
     */
    async insert(q: Queryable, inv: NewInvitation, outbox: OutboxItem[], queuedAt: number, rules: { lockKey: bigint | null; requireNoPending: boolean; requireNoUser: boolean }): Promise<InvitationRow | null> {
      const rows = await q.query<InvitationRow>(
        'select * from insert_invitation($1::bigint, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10, $11, $12, $13, $14, $15::jsonb, $16)',
        [rules.lockKey?.toString() ?? null, rules.requireNoPending, rules.requireNoUser, inv.id, inv.instance_id, inv.email_address,
          JSON.stringify(inv.public_metadata), inv.redirect_url, inv.notify, inv.template_slug, inv.ticket_nonce, inv.ticket_hash,
          inv.expires_at, inv.created_at, outboxJson(outbox), queuedAt])
      return rows[0] ?? null
    },

    /**
     * insert() for a batch, in one statement and in the batch's order: each item sees the ones
     * before it (insert_invitation is volatile, so each of its queries takes a fresh snapshot),
     * so two items for one address are refused as a duplicate. Answers a row or null per item.
     */
    async insertMany(q: Queryable, writes: NewInvitationWrite[], queuedAt: number): Promise<(InvitationRow | null)[]> {
      const items = writes.map(({ invitation: inv, outbox, rules }) => ({
        lock_key: rules.lockKey?.toString() ?? null, require_no_pending: rules.requireNoPending, require_no_user: rules.requireNoUser,
        id: inv.id, instance_id: inv.instance_id, email_address: inv.email_address, public_metadata: inv.public_metadata,
        redirect_url: inv.redirect_url, notify: inv.notify, template_slug: inv.template_slug, ticket_nonce: inv.ticket_nonce,
        ticket_hash: inv.ticket_hash, expires_at: inv.expires_at, created_at: inv.created_at, outbox: JSON.parse(outboxJson(outbox)),
      }))
      const rows = await q.query<InvitationRow & { item: string }>(`
        select t.i as item, f.* from jsonb_array_elements($1::jsonb) with ordinality as t(x, i)
        cross join lateral (
          select * from insert_invitation((t.x->>'lock_key')::bigint, (t.x->>'require_no_pending')::boolean, (t.x->>'require_no_user')::boolean,
            t.x->>'id', t.x->>'instance_id', t.x->>'email_address', t.x->'public_metadata', t.x->>'redirect_url', (t.x->>'notify')::boolean,
            t.x->>'template_slug', t.x->>'ticket_nonce', t.x->>'ticket_hash', (t.x->>'expires_at')::bigint, (t.x->>'created_at')::bigint,
            t.x->'outbox', $2)
        ) f
        order by t.i`, [JSON.stringify(items), queuedAt])
      const byItem = new Map(rows.map(({ item, ...row }) => [Number(item), row as InvitationRow]))
      return writes.map((_, i) => byItem.get(i + 1) ?? null)
    },

    /**
     * Takes the address locks of a transaction in the order given (callers sort them, so
     * that two transactions cannot each hold one lock the other waits for).
     */
    async lockAddresses(q: Queryable, keys: bigint[]): Promise<void> {
      await q.query('select pg_advisory_xact_lock(k) from unnest($1::bigint[]) with ordinality as t(k, i) order by i', [keys.map(String)])
    },

    async hasPending(q: Queryable, instanceId: string, emailAddress: string, now: number): Promise<boolean> {
      const rows = await q.query(`select 1 from invitations where instance_id = $1 and email_address = $2 and status = 'pending' and expires_at > $3 limit 1`, [instanceId, emailAddress, now])
      return rows.length > 0
    },

    async findById(q: Queryable, instanceId: string, id: string): Promise<InvitationRow | null> {
      const rows = await q.query<InvitationRow>('select * from invitations where id = $1 and instance_id = $2', [id, instanceId])
      return rows[0] ?? null
    },

    /**
     * One page, and with `withTotal` the number of all matches, in one statement. Counting
     * scans nothing: stored statuses come from the sharded counts and only "pending but past
     * expiry" reads the partial expiry index. A text query has no such shortcut: its matches
     * are counted by a subquery of their own, which reads only what counting needs (a window
     * over the page's scan kept every matching row), and the statement is planned for the text
     * (see queryCustomPlan): a rare fragment is looked up in the trigram index, and a common one
     * pages down the order's index while the count scans. A fragment that matches few rows
     * finds, counts and pages them in one scan (fewMatchesPage).
     */
    async page(q: Queryable, f: ListFilter, withTotal: boolean): Promise<{ rows: InvitationListRow[]; total: number | null }> {
      const dir = f.orderBy.descending ? 'desc' : 'asc'
      if (withTotal && f.query !== null) {
        const found = listWhere(f, true)
        const few = await fewMatchesPage<InvitationListRow>(q, {
          matches: `select id, ${f.orderBy.column} from invitations where ${found.where}`,
          order: `m.${f.orderBy.column} ${dir}, m.id ${dir}`,
          rows: `select ${LIST_COLUMNS} from invitations i where i.id = m.id`,
          params: found.params, cachedPlan: hasTrigramKeys(f.query), limit: f.limit, offset: f.offset,
        })
        if (few) return few
      }
      const { where, params } = listWhere(f)
      const total = !withTotal ? '' : f.query !== null
        ? `, (select count(*) from invitations where ${where})::int8 as total_count`
        : `, (${countExpr(f)})::int8 as total_count`
      const sql = `select ${LIST_COLUMNS}${total} from invitations where ${where}
         order by ${f.orderBy.column} ${dir}, id ${dir} limit $${params.length + 1} offset $${params.length + 2}`
      const rows = await queryFor(q, f.query !== null)<InvitationListRow & { total_count?: number }>(sql, [...params, f.limit, f.offset])
      if (!withTotal) return { rows, total: null }
      // An empty page (an offset past the end) carries no count of its own.
      if (rows.length === 0) return { rows, total: f.offset === 0 ? 0 : await this.count(q, f) }
      return { rows, total: Number(rows[0]!.total_count) }
    },

    async count(q: Queryable, f: ListFilter): Promise<number> {
      const { where, params } = listWhere(f)
      const sql = f.query !== null
        ? `select count(*)::int8 as n from invitations where ${where}`
        : `select (${countExpr(f)})::int8 as n`
      const rows = await queryFor(q, f.query !== null)<{ n: number }>(sql, params)
      return rows[0]?.n ?? 0
    },

    /** Guarded: only a pending, unexpired invitation changes; null means it was not. */
    async revoke(q: Queryable, instanceId: string, id: string, now: number, queuedAt: number, outbox: OutboxItem[]): Promise<InvitationRow | null> {
      const rows = await q.query<InvitationRow>(`
        with inv as (
          update invitations set status = 'revoked', updated_at = $3
          where id = $1 and instance_id = $2 and status = 'pending' and expires_at > $3
          returning *
        ),
        ${countsCte(`('pending', -1), ('revoked', 1)`)},
        ${outboxCte('$5', '$4')}
        select * from inv`,
      [id, instanceId, now, outboxJson(outbox), queuedAt])
      return rows[0] ?? null
    },

    /**
     * Marks a pending, unexpired invitation accepted by `userId`, guarded by its ticket hash.
     * The row lock makes two acceptances of one ticket queue up: the second sees the first's
     * commit, matches nothing, and gets null.
     */
    async accept(q: Queryable, instanceId: string, id: string, ticketHash: string, userId: string, now: number, queuedAt: number, outbox: OutboxItem[]): Promise<InvitationRow | null> {
      const rows = await q.query<InvitationRow>(`
        with inv as (
          update invitations set status = 'accepted', accepted_by_user_id = $4, updated_at = $5
          where id = $1 and instance_id = $2 and ticket_hash = $3 and status = 'pending' and expires_at > $5
          returning *
        ),
        ${countsCte(`('pending', -1), ('accepted', 1)`)},
        ${outboxCte('$6', '$7')}
        select * from inv`,
      [id, instanceId, ticketHash, userId, now, queuedAt, outboxJson(outbox)])
      return rows[0] ?? null
    },

    /**
     * Queues outbox rows (due at `queuedAt`, wall time) for a pending, unexpired invitation (a resend), holding its row until
     * commit so that a concurrent revoke or accept cannot slip in between; null when it is not.
     * `remindedAt` replaces the reminder mark (null: a reminder is due again).
     */
    async requeue(q: Queryable, instanceId: string, id: string, now: number, queuedAt: number, outbox: OutboxItem[], remindedAt: number | null): Promise<InvitationRow | null> {
      const rows = await q.query<InvitationRow>(`
        with inv as (
          update invitations set reminded_at = $6
          where id = $1 and instance_id = $2 and status = 'pending' and expires_at > $3
          returning *
        ),
        ${outboxCte('$4', '$5')}
        select * from inv`,
      [id, instanceId, now, queuedAt, outboxJson(outbox), remindedAt])
      return rows[0] ?? null
    },

    /**
     * Re-issues an expired invitation: a new nonce and ticket hash (every earlier link stops
     * matching) and a new expiry, with its outbox rows. Guarded: only a pending invitation past
     * its expiry changes; null means it was not. The new expiry is announced and reminded of
     * like a first one (`remindedAt` as in requeue).
     */
    async reissue(q: Queryable, instanceId: string, id: string, now: number, queuedAt: number, ticket: { nonce: string; hash: string }, expiresAt: number, outbox: OutboxItem[], remindedAt: number | null): Promise<InvitationRow | null> {
      const rows = await q.query<InvitationRow>(`
        with inv as (
          update invitations set ticket_nonce = $4, ticket_hash = $5, expires_at = $6, updated_at = $3, expired_event_at = null, reminded_at = $9
          where id = $1 and instance_id = $2 and status = 'pending' and expires_at <= $3
          returning *
        ),
        ${outboxCte('$7', '$8')}
        select * from inv`,
      [id, instanceId, now, ticket.nonce, ticket.hash, expiresAt, queuedAt, outboxJson(outbox), remindedAt])
      return rows[0] ?? null
    },

    /**
     * Marks up to `limit` pending invitations past their expiry (on their instance's clock:
     * wall time `now` plus its offset) whose expiry was not announced yet. Guarded and SKIP
     * LOCKED: of two processes sweeping at once, each row goes to exactly one.
     */
    async markExpired(q: Queryable, now: number, limit: number): Promise<SweptRow<InvitationRow>[]> {
      return q.query<SweptRow<InvitationRow>>(`
        with due as materialized (
          select d.id from invitations d join instances di on di.id = d.instance_id
          where ${EXPIRY_DUE}
          order by d.expires_at limit $2 for update of d skip locked)
        update invitations i set expired_event_at = $1 + inst.clock_offset_ms
        from due, instances inst
        where i.id = due.id and inst.id = i.instance_id and i.status = 'pending' and i.expired_event_at is null
        returning i.*, inst.clock_offset_ms`,
      [now, limit])
    },

    /**
     * Marks up to `limit` pending, unexpired invitations whose reminder is due: their instance
     * reminds `remind_before_expiry_days` before expiry, that moment has come, the invitation
     * was emailed (notify) before it, and no reminder went yet. Guarded like markExpired.
     */
    async markReminded(q: Queryable, now: number, limit: number): Promise<SweptRow<InvitationRow>[]> {
      return q.query<SweptRow<InvitationRow>>(`
        with due as materialized (
          select d.id from invitations d join instances di on di.id = d.instance_id
          where ${REMINDER_DUE}
          order by d.expires_at limit $2 for update of d skip locked)
        update invitations i set reminded_at = $1 + inst.clock_offset_ms
        from due, instances inst
        where i.id = due.id and inst.id = i.instance_id and i.status = 'pending' and i.reminded_at is null
        returning i.*, inst.clock_offset_ms`,
      [now, limit, DAY_MS])
    },

    /**
     * Deletes the invitation, every outbox row about it, and the sign-ups waiting for a
     * password with its ticket (they all hold the recipient's address). Unless a user has the
     * address (then these are that user's, erased with the user), what signing up and signing
     * in kept under it goes too (see eraseSignUpTraces).
     */
    async remove(q: Queryable, instanceId: string, id: string): Promise<boolean> {
      const rows = await q.query<{ id: string; email_address: string; held: boolean }>(`
        with inv as (delete from invitations where id = $1 and instance_id = $2 returning instance_id, id, status, ticket_hash, email_address),
        waiting as (delete from ticket_sign_ups where instance_id = $2 and status = 'pending' and ticket_hash in (select ticket_hash from inv)),
        counted as (
          insert into invitation_counts (instance_id, status, shard, n)
          select inv.instance_id, inv.status, ${SHARD}, -1 from inv
          on conflict (instance_id, status, shard) do update set n = invitation_counts.n + excluded.n
        ),
        purged as (delete from outbox where subject_id = $1 and instance_id = $2),
        purged_mail as (delete from dev_mailbox_messages where subject_id = $1 and instance_id = $2)
        select id, email_address,
          exists (select 1 from email_addresses e where e.instance_id = $2 and e.email_address = inv.email_address) as held
        from inv`,
      [id, instanceId])
      const removed = rows[0]
      if (!removed) return false
      if (!removed.held) await eraseSignUpTraces(q, instanceId, [removed.email_address], [])
      return true
    },
  }
}

const LIST_COLUMNS = 'id, email_address, public_metadata, status, ticket_nonce, expires_at, created_at, updated_at'
export type InvitationListRow = Pick<InvitationRow, 'id' | 'email_address' | 'public_metadata' | 'status' | 'ticket_nonce' | 'expires_at' | 'created_at' | 'updated_at'>

/**
 * The number of matches without a text query, from the sharded counts. `params` is the
 * list's own (listWhere): $1 is the instance and, for 'pending' and 'expired', $2 is now.
 */
function countExpr(f: ListFilter): string {
  const stored = (statuses: string) =>
    `(select coalesce(sum(n), 0) from invitation_counts where instance_id = $1 and status in (${statuses}))`
  const expired = `(select count(*) from invitations where instance_id = $1 and status = 'pending' and expires_at <= $2)`
  return {
    none: stored(`'pending', 'accepted'`),
    pending: `${stored(`'pending'`)} - ${expired}`,
    expired,
    accepted: stored(`'accepted'`),
    revoked: stored(`'revoked'`),
  }[f.status ?? 'none']
}

/**
 * With `byTrigrams`, the text is matched as trigramContains writes it, for a statement that
 * finds its rows through the trigram index; otherwise by one `like`, whose estimate lets the
 * planner page a common text down the order's index instead.
 */
function listWhere(f: ListFilter, byTrigrams = false): { where: string; params: unknown[] } {
  const params: unknown[] = [f.instanceId]
  const clauses = ['instance_id = $1', statusClause(f.status, f.now, params)]
  if (f.query !== null && byTrigrams) {
    clauses.push(`(${trigramContains('email_address', f.query.toLowerCase(), params)} or id = $${params.push(f.query)})`)
  } else if (f.query !== null) {
    params.push(`%${escapeLike(f.query.toLowerCase())}%`, f.query)
    clauses.push(`(email_address like $${params.length - 1} or id = $${params.length})`)
  }
  return { where: clauses.join(' and '), params }
}

export type InvitationStore = ReturnType<typeof createInvitationStore>
