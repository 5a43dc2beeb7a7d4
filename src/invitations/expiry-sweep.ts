import { periodic } from '../platform/periodic.js'
import type { Db } from '../platform/db/db.js'
import type { Clock } from '../platform/clock.js'
import { newId } from '../platform/ids.js'
import type { NewOutboxItem, OutboxItem, OutboxStore } from '../platform/outbox/outbox.store.js'
import type { InvitationStore, SweptRow } from './invitations.store.js'
import { invitationEvent } from './invitations.service.js'
import type { OrgInvitationStore } from '../organizations/org-invitations.store.js'
import { orgInvitationEvent } from '../organizations/org-invitations.service.js'

interface Deps {
  db: Db
  /** Wall time; each invitation is judged on its instance's clock (wall time plus its offset). */
  clock: Clock
  invitations: InvitationStore
  orgInvitations: OrgInvitationStore
  outbox: OutboxStore
  /** Called after a batch queued something, so that it goes out now rather than at the next poll. */
  onQueued?: () => void
  intervalMs?: number
  batchSize?: number
  onError?: (err: unknown) => void
}

const reminderEmail = (row: { id: string; email_address: string }, slug: string, now: number): OutboxItem => ({
  id: newId('msg', now), kind: 'email', topic: slug, payload: { invitation_id: row.id, to: row.email_address, template_slug: slug },
})

/**
 * Turns time passing into events: a pending invitation that reached its expiry gets its
 * `invitation.expired` / `organizationInvitation.expired` event, and one inside its instance's
 * reminder window gets its reminder email. Each batch marks its rows with a guarded update and
 * queues what they send in the same transaction, so each goes out exactly once, whichever of
 * several processes sweeps it, and nothing is lost to a stop: what expired while no process ran
 * is found by the first sweep after.
 */
export function createExpirySweep({ db, clock, invitations, orgInvitations, outbox, onQueued, intervalMs = 60_000, batchSize = 200, onError = () => {} }: Deps) {
  /** Marks one batch of each kind and queues what it sends; resolves with how many rows it marked. */
  async function batch(): Promise<number> {
    const now = clock.now()
    const queuedAt = now
    const toItem = (item: OutboxItem, instanceId: string, subjectId: string): NewOutboxItem =>
      ({ ...item, instanceId, subjectId, nextAttemptAt: queuedAt })
    const instanceNow = (row: SweptRow<unknown>) => clock.now({ clockOffsetMs: Number(row.clock_offset_ms) })
    return db.transaction(async (tx) => {
      const items: NewOutboxItem[] = []
      const expired = await invitations.markExpired(tx, now, batchSize)
      for (const row of expired) items.push(toItem(invitationEvent('invitation.expired', { id: row.instance_id }, row, instanceNow(row)), row.instance_id, row.id))
      const orgExpired = await orgInvitations.markExpired(tx, now, batchSize)
      for (const row of orgExpired) items.push(toItem(orgInvitationEvent('organizationInvitation.expired', { id: row.instance_id }, row, instanceNow(row)), row.instance_id, row.id))
      const reminded = await invitations.markReminded(tx, now, batchSize)
      for (const row of reminded) items.push(toItem(reminderEmail(row, 'invitation_reminder', now), row.instance_id, row.id))
      const orgReminded = await orgInvitations.markReminded(tx, now, batchSize)
      for (const row of orgReminded) items.push(toItem(reminderEmail(row, 'organization_invitation_reminder', now), row.instance_id, row.id))
      await outbox.enqueue(tx, items, queuedAt)
      return items.length
    })
  }

  /** Sweeps until nothing is due; resolves with how many events and reminders it queued. */
  async function runOnce(): Promise<number> {
    let total = 0
    for (let n = await batch(); n > 0; n = await batch()) total += n
    if (total > 0) onQueued?.()
    return total
  }

  const schedule = periodic(runOnce, intervalMs, onError)

  return {
    runOnce,
    /** Sweeps at once (what expired while stopped), then every `intervalMs`. */
    start: schedule.start,
    /** Stops sweeping; a batch under way finishes (or rolls back) first. */
    stop: schedule.stop,
  }
}

export type ExpirySweep = ReturnType<typeof createExpirySweep>
