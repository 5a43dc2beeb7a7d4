import { newId } from '../platform/ids.js'
import type { NewOutboxItem } from '../platform/outbox/outbox.store.js'
import type { UserRow } from './users.store.js'
import { toClerkUser } from './users.schemas.js'

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
export const userCreatedEvent = (user: UserRow, instance: { id: string }, now: number): UserEvent =>
  event('user.created', instance.id, user.id, toClerkUser(user), now)

/** `user.updated`, with Clerk's User object (as it is after the change) as `data`. */
export const userUpdated = (user: UserRow, instance: { id: string }, now: number): UserEvent =>
  event('user.updated', instance.id, user.id, toClerkUser(user), now)

/** The event as the outbox store queues it, due at `queuedAt` (wall time). */
export const queuedUserEvent = (event: UserEvent, queuedAt: number): NewOutboxItem => ({
  id: event.id, instanceId: event.payload.instance_id, kind: event.kind, topic: event.topic, subjectId: event.subjectId,
  payload: event.payload, nextAttemptAt: queuedAt,
})

/** `user.deleted`, with Clerk's DeletedObject as `data`. */
export const userDeletedEvent = (userId: string, instance: { id: string }, now: number): UserEvent =>
  event('user.deleted', instance.id, userId, { object: 'user', id: userId, deleted: true }, now)
