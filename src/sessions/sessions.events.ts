import { newId } from '../platform/ids.js'
import type { NewOutboxItem } from '../platform/outbox/outbox.store.js'
import type { UserRow } from '../users/users.store.js'
import { toClerkUser } from '../users/users.schemas.js'
import type { SessionRecord } from './sessions.store.js'
import { toClerkSession } from './sessions.schemas.js'

export type SessionEventType = 'session.created' | 'session.ended' | 'session.removed' | 'session.revoked'

/**
 * A `session.*` webhook event, queued in the transaction that changes the session. `data` is
 * Clerk's Session with its User, as the reference payload has it; the subject is the user, so
 * deleting the user takes its events (which hold its address) along.
 */
export function queuedSessionEvent(type: SessionEventType, session: SessionRecord, user: UserRow, queuedAt: number): NewOutboxItem {
  const now = session.updated_at
  // The webhooks reference's Session has no `tasks` (and forbids other fields): only the Backend API's has.
  const { tasks: _tasks, ...clerkSession } = toClerkSession(session, now)
  // The session's change is on wall time; a lock is on the instance's, which only the test clock moves ahead.
  const data = { ...clerkSession, user: toClerkUser(user, { now }) }
  return {
    id: newId('msg', now), instanceId: session.instance_id, kind: 'webhook', topic: type, subjectId: user.id,
    payload: { data, object: 'event', type, timestamp: now, instance_id: session.instance_id }, nextAttemptAt: queuedAt,
  }
}
