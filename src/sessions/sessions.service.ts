import type { Db } from '../platform/db/db.js'
import type { Clock } from '../platform/clock.js'
import { notFound } from '../platform/errors.js'
import type { Instance } from '../instance/instance.schemas.js'
import type { SessionRecord, SessionStore } from './sessions.store.js'
import type { SessionTokenService } from './session-tokens.js'
import type { ListSessionsQuery } from './sessions.schemas.js'
import type { UserStore } from '../users/users.store.js'
import type { OutboxStore } from '../platform/outbox/outbox.store.js'
import { queuedSessionEvent } from './sessions.events.js'

interface Deps {
  db: Db
  clock: Clock
  store: SessionStore
  tokens: SessionTokenService
  users: UserStore
  outbox: OutboxStore
}

/** A session as the Backend API shows it, with the server time its status was read at. */
export interface SessionView {
  row: SessionRecord
  now: number
}

/**
 * The Backend API's sessions: the hosted pages' and Frontend API's sign-ins, listed, revoked
 * and turned into session tokens. Another instance's session is unknown here (404).
 */
export function createSessionService({ db, clock, store, tokens, users, outbox }: Deps) {
  async function get(instance: Instance, id: string): Promise<SessionView> {
    const row = await store.findById(db, instance.id, id)
    if (!row) throw notFound('session')
    return { row, now: clock.now() }
  }

  return {
    async list(instance: Instance, query: ListSessionsQuery): Promise<{ data: SessionView[]; totalCount: number | null }> {
      const now = clock.now()
      // A Client is one browser's one session: its id is the session's, prefixed `client_`.
      const sessionId = query.client_id === undefined ? undefined : `sess_${query.client_id.replace(/^client_/, '')}`
      const filter = { instanceId: instance.id, userId: query.user_id, sessionId, status: query.status, now }
      const rows = await store.page(db, filter, query.limit ?? 10, query.offset ?? 0)
      return { data: rows.map((row) => ({ row, now })), totalCount: query.paginated === true ? await store.count(db, filter) : null }
    },

    get,

    /**
     * Revokes the session: its cookie signs no one in any more and no token is minted for it.
     * A session that is no longer active is answered as it is (revoking twice is harmless).
     */
    async revoke(instance: Instance, id: string): Promise<SessionView> {
      const now = clock.now()
      const revoked = await db.transaction(async (tx) => {
        const row = await store.revoke(tx, instance.id, id, now)
        const user = row && await users.findById(tx, instance.id, row.user_id)
        if (row && user) await outbox.enqueue(tx, [queuedSessionEvent('session.revoked', row, user, now)], now)
        return row
      })
      return revoked ? { row: revoked, now } : get(instance, id)
    },

    createToken: tokens.mint,

    /**
     * Makes the organization named by id or slug the session's active one, if its person is a
     * member of it ('' makes none active); false, changing nothing, otherwise.
     */
    activateOrganization: (instance: Instance, sessionId: string, idOrSlug: string): Promise<boolean> =>
      store.activateOrganization(db, instance.id, { id: sessionId }, idOrSlug),
  }
}

export type SessionService = ReturnType<typeof createSessionService>
