import { newId } from '../platform/ids.js'
import type { Queryable } from '../platform/db/db.js'
import type { Clock } from '../platform/clock.js'
import type { NewOutboxItem, OutboxStore } from '../platform/outbox/outbox.store.js'
import type { UserRow, UserStore } from './users.store.js'
import { toClerkUser } from './users.schemas.js'
import type { UserLockout } from '../instance/instance.schemas.js'

/**
 * A webhook event as the outbox takes it (see invitations.store.ts), about one user: the
 * subject lets deleting the user take its events (which hold its address) along.
 */
export interface UserEvent {
  id: string
  kind: 'webhook'
  topic: 'user.created' | 'user.updated' | 'user.deleted'
  subjectId: string
  payload: { data: unknown; object: 'event'; type: string; timestamp: number; instance_id: string }
}

const event = (type: UserEvent['topic'], instanceId: string, userId: string, data: unknown, now: number): UserEvent => ({
  id: newId('msg', now),
  kind: 'webhook',
  topic: type,
  subjectId: userId,
  payload: { data, object: 'event', type, timestamp: now, instance_id: instanceId },
})

/**
 * `user.created`, with Clerk's User object as `data`. Queue it in the transaction that
 * inserts the user, whoever creates it (the Backend API, a sign-up).
 */
export const userCreatedEvent = (user: UserRow, instance: { id: string; userLockout: UserLockout }, now: number): UserEvent =>
  event('user.created', instance.id, user.id, toClerkUser(user, { now, lockout: instance.userLockout }), now)

/** The event as the outbox store queues it, due at `queuedAt` (wall time). */
export const queuedUserEvent = (event: UserEvent, queuedAt: number): NewOutboxItem => ({
  id: event.id, instanceId: event.payload.instance_id, kind: event.kind, topic: event.topic, subjectId: event.subjectId,
  payload: event.payload, nextAttemptAt: queuedAt,
})

/** `user.deleted`, with Clerk's DeletedObject as `data`. */
export const userDeletedEvent = (userId: string, instance: { id: string }, now: number): UserEvent =>
  event('user.deleted', instance.id, userId, { object: 'user', id: userId, deleted: true }, now)

/**
 * Queues `user.updated` for the user as it now is in `tx`: call it in the transaction that
 * changed the user, after the change, so the event is sent if and only if the change commits.
 * `changedKeys` (`first_name`, `public_metadata.plan` …) go into the change's audit record.
 */
export async function queueUserUpdated(
  tx: Queryable, deps: { store: UserStore; outbox: OutboxStore; clock: Clock }, instance: { id: string; clockOffsetMs: number; userLockout: UserLockout }, userId: string,
  changedKeys?: string[],
): Promise<UserRow> {
  const user = await deps.store.findById(tx, instance.id, userId)
  if (!user) throw new Error(`user ${userId} vanished inside its own transaction`)
  const now = deps.clock.now(instance)
  // The audit record names the fields and metadata keys that changed, never their values.
  const item = queuedUserEvent(userUpdatedEvent(user, instance, now), deps.clock.now())
  await deps.outbox.enqueue(tx, [changedKeys ? { ...item, changedKeys } : item], deps.clock.now())
  return user
}

/** `user.updated`, with Clerk's User object as `data`, its lock read at the instance's `now`. */
export const userUpdatedEvent = (user: UserRow, instance: { id: string; userLockout: UserLockout }, now: number): UserEvent =>
  event('user.updated', instance.id, user.id, toClerkUser(user, { now, lockout: instance.userLockout }), now)
