import { periodic } from '../periodic.js'
import type { Db, Queryable } from '../db/db.js'
import { DAY_MS, type Clock } from '../clock.js'
import { createAuditStore, type AuditStore } from '../audit/audit.store.js'

/** Days each kind of delivery history is kept (FOYER_RETENTION_*_DAYS). */
export interface RetentionDays {
  /** Delivered emails (an invitation's email history) and the dev mailbox's messages. */
  emails: number
  /** Delivered webhook deliveries, with their delivery log rows and HTTP attempts, and the events they carried. */
  webhooks: number
  /** Failed items of every kind, kept longer so that someone can look into them (or retry one). */
  failed: number
  /** Audit records (the audit log is otherwise never deleted from). */
  audit: number
}

export const DEFAULT_RETENTION_DAYS: RetentionDays = Object.freeze({ emails: 30, webhooks: 30, failed: 90, audit: 365 })

/** How long a code email is counted (sign_up_code_emails): a day, for a limit per hour. */
export const CODE_EMAILS_KEPT_MS = DAY_MS

/**
 * The prunes, each one bounded statement. Rows are taken oldest first along an index
 * (migration 028) and locked with SKIP LOCKED, then deleted by key (`= any(array(…))` keeps
 * the planner from joining the whole table against the batch): processes pruning side by side take different
 * rows, and none waits on a row a worker or a retry by hand holds. Only finished rows are
 * candidates ('delivered', 'failed'), so nothing pending or being sent is ever touched.
 * Deleting a webhook_delivery item takes its delivery log row and attempts along (foreign keys).
 */
export function createRetentionStore() {
  return {
    /** Items of one kind delivered before `before`. */
    pruneDelivered(q: Queryable, kind: string, before: number, limit: number) {
      return q.query<{ id: string }>(`
        delete from outbox where id = any(array(
          select o.id from outbox o
          where o.status = 'delivered' and o.kind = $3 and o.delivered_at < $1
            -- a webhook event stays while one of its deliveries does: a retry by hand re-reads it
            and (o.kind <> 'webhook' or not exists (select 1 from webhook_deliveries d where d.event_id = o.id))
          order by o.delivered_at limit $2
          for update of o skip locked))
        returning id`, [before, limit, kind])
    },

    /** Items that gave up (status 'failed') before `before`, of every kind. */
    pruneFailed(q: Queryable, before: number, limit: number) {
      return q.query<{ id: string }>(`
        delete from outbox where id = any(array(
          select o.id from outbox o
          where o.status = 'failed' and o.updated_at < $1
            and (o.kind <> 'webhook' or not exists (select 1 from webhook_deliveries d where d.event_id = o.id))
          order by o.updated_at limit $2
          for update of o skip locked))
        returning id`, [before, limit])
    },

    /**
     * Code emails counted before `before`. The table has no key of its own: rows are taken by
     * their physical address, locked like the others.
     */
    pruneCodeEmails(q: Queryable, before: number, limit: number) {
      return q.query<{ attempt_id: string }>(`
        delete from sign_up_code_emails where ctid = any(array(
          select ctid from sign_up_code_emails where sent_at < $1
          order by sent_at limit $2
          for update skip locked))
        returning attempt_id`, [before, limit])
    },

    /** Dev mailbox messages kept before `before`. */
    pruneDevMessages(q: Queryable, before: number, limit: number) {
      return q.query<{ id: string }>(`
        delete from dev_mailbox_messages where id = any(array(
          select id from dev_mailbox_messages where created_at < $1
          order by created_at, id limit $2
          for update skip locked))
        returning id`, [before, limit])
    },
  }
}

export type RetentionStore = ReturnType<typeof createRetentionStore>

interface Deps {
  db: Db
  /** Wall time, as the outbox's own times are. */
  clock: Clock
  days: RetentionDays
  store?: RetentionStore
  audit?: AuditStore
  intervalMs?: number
  /** Rows per statement: small, so that each delete holds its locks only briefly. */
  batchSize?: number
  onError?: (err: unknown) => void
}

/**
 * Deletes delivery history past its retention: delivered emails, and webhook events and
 * deliveries (with their attempts), after their number of days; failed items of any kind after
 * the longer `failed` limit, the dev mailbox with the emails, and code emails counted more than
 * a day ago (the limit they serve is hourly), and audit records after theirs. Every process runs it; each
 * batch is its own short statement (see the store), so pruning never holds up writers and
 * several processes prune side by side without taking the same rows.
 */
export function createRetentionPruner({ db, clock, days, store = createRetentionStore(), audit = createAuditStore(), intervalMs = 10 * 60_000, batchSize = 500, onError = () => {} }: Deps) {
  /** Runs one prune batch after batch until a batch comes back short; answers how many rows it deleted. */
  async function drain(prune: () => Promise<unknown[]>): Promise<number> {
    let total = 0
    for (;;) {
      const n = (await prune()).length
      total += n
      if (n < batchSize || schedule.stopping) return total
    }
  }

  /** Prunes everything past its retention now; resolves with how many rows it deleted. */
  async function runOnce(): Promise<number> {
    const now = clock.now()
    const before = (d: number) => now - d * DAY_MS
    let total = 0
    total += await drain(() => store.pruneDelivered(db, 'email', before(days.emails), batchSize))
    total += await drain(() => store.pruneDevMessages(db, before(days.emails), batchSize))
    // Deliveries before events: an event goes only once none of its deliveries is left.
    total += await drain(() => store.pruneDelivered(db, 'webhook_delivery', before(days.webhooks), batchSize))
    total += await drain(() => store.pruneFailed(db, before(days.failed), batchSize))
    total += await drain(() => store.pruneDelivered(db, 'webhook', before(days.webhooks), batchSize))
    // Only the last hour counts toward the limit on code emails, and the rows hold the inbox's
    // address. Their times are the instance's, never behind the wall clock: none still counting goes.
    total += await drain(() => store.pruneCodeEmails(db, now - CODE_EMAILS_KEPT_MS, batchSize))
    total += await drain(() => audit.prune(db, before(days.audit), batchSize))
    return total
  }

  const schedule = periodic(runOnce, intervalMs, onError)

  return {
    runOnce,
    /** Prunes at once (what came due while stopped), then every `intervalMs`. */
    start: schedule.start,
    /** Stops pruning; a batch under way finishes first. */
    stop: schedule.stop,
  }
}

export type RetentionPruner = ReturnType<typeof createRetentionPruner>
