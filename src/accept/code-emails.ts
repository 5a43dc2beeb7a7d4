import type { Queryable } from '../platform/db/db.js'
import type { Clock } from '../platform/clock.js'
import { newId } from '../platform/ids.js'
import { sha256 } from '../platform/secrets.js'
import { ApiError } from '../platform/errors.js'
import { addressLockKey, mailboxOf } from '../platform/validation.js'
import type { OutboxStore } from '../platform/outbox/outbox.store.js'
import type { UserStore } from '../users/users.store.js'
import type { AcceptStore } from './accept.store.js'

export const CODE_TTL_MS = 10 * 60 * 1000
export const CODE_MAX_FAILURES = 5
/** A code is emailed again only this long after the last one. */
export const CODE_RESEND_INTERVAL_MS = 30 * 1000
// Code emails per address per hour, in each instance, whoever asks and through whichever face
// (hosted page or Frontend API) and for whichever purpose (sign-up, adding an address): enough
// for a person who mistyped or lost one, too few to bomb an inbox with.
export const CODE_EMAILS_PER_WINDOW = 5
const CODE_EMAIL_WINDOW_MS = 60 * 60 * 1000

/** Who a code email goes to: `id` is what it verifies (a sign-up attempt, an email address). */
export interface CodeRecipient { id: string; instance_id: string; email_address: string; mailbox?: string }

/** The `verification_code` emails of sign-ups and of added addresses, under one hourly budget per inbox. */
export function createCodeEmails(deps: { clock: Clock; users: Pick<UserStore, 'lockAddress'>; store: Pick<AcceptStore, 'codeEmailsSince' | 'recordCodeEmail'>; outbox: OutboxStore }) {
  return {
    /**
     * Takes one code email from the inbox's hourly budget, or throws 429 `too_many_requests`
     * with Retry-After. Counted in the database per inbox, under the inbox's lock and then the
     * address's: requests racing on several processes, or spelling one inbox several ways
     * (victim+1@, v.ictim@gmail), cannot send more code emails than the limit between them. No
     * other path holds an address's lock while taking a second, so this order cannot deadlock.
     */
    async spend(tx: Queryable, to: CodeRecipient, now: number): Promise<void> {
      const mailbox = to.mailbox ?? mailboxOf(to.email_address)
      await deps.users.lockAddress(tx, addressLockKey(to.instance_id, mailbox, sha256))
      if (mailbox !== to.email_address) await deps.users.lockAddress(tx, addressLockKey(to.instance_id, to.email_address, sha256))
      const sent = await deps.store.codeEmailsSince(tx, to.instance_id, mailbox, now - CODE_EMAIL_WINDOW_MS)
      if (sent.count >= CODE_EMAILS_PER_WINDOW) {
        const retryAfter = Math.max(1, Math.ceil(((sent.oldest ?? now) + CODE_EMAIL_WINDOW_MS - now) / 1000))
        const minutes = Math.ceil(retryAfter / 60)
        throw new ApiError(429, 'too_many_requests', 'Too many requests',
          `Too many codes were sent to this address. Wait ${minutes} minute${minutes === 1 ? '' : 's'}, then try again.`, {}, { 'retry-after': String(retryAfter) })
      }
    },

    /** Queues the code email (its code is derived when it is delivered, never stored) and counts it. */
    async send(tx: Queryable, to: CodeRecipient, payload: Record<string, string>, now: number): Promise<void> {
      await deps.store.recordCodeEmail(tx, { id: to.id, instance_id: to.instance_id, mailbox: to.mailbox ?? mailboxOf(to.email_address) }, now)
      await deps.outbox.enqueue(tx, [{
        id: newId('msg', now), instanceId: to.instance_id, kind: 'email', topic: 'verification_code', subjectId: to.id,
        payload: { ...payload, to: to.email_address, template_slug: 'verification_code' }, nextAttemptAt: deps.clock.now(),
      }], deps.clock.now())
    },
  }
}

export type CodeEmails = ReturnType<typeof createCodeEmails>
