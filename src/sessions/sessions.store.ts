import type { Queryable } from '../platform/db/db.js'

/**
 * A row of `sessions` (migration 006). `status` is 'active', 'ended' (signed out on the hosted
 * pages or the Frontend API), 'revoked' (through the Backend API or the dashboard) or 'removed'
 * (removed from its client by its user, on the Frontend API); the column has no check, so these
 * needed no migration. An active row past `expires_at` is an expired session.
 */
export interface SessionRecord {
  id: string
  instance_id: string
  user_id: string
  status: 'active' | 'ended' | 'revoked' | 'removed'
  expires_at: number
  last_active_at: number
  created_at: number
  updated_at: number
}

/** A status as Clerk names it; the ones Foyer never has (abandoned, replaced) match no row. */
export type SessionStatusFilter = 'abandoned' | 'active' | 'ended' | 'expired' | 'removed' | 'replaced' | 'revoked'

export interface SessionFilter {
  instanceId: string
  userId?: string | undefined
  /** The session of a Frontend API Client (one each). */
  sessionId?: string | undefined
  status?: SessionStatusFilter | undefined
  now: number
}

const COLUMNS = 'id, instance_id, user_id, status, expires_at, last_active_at, created_at, updated_at'

function where(f: SessionFilter): { sql: string; params: unknown[] } {
  const params: unknown[] = [f.instanceId]
  const clauses = ['instance_id = $1']
  if (f.userId !== undefined) {
    params.push(f.userId)
    clauses.push(`user_id = $${params.length}`)
  }
  if (f.sessionId !== undefined) {
    params.push(f.sessionId)
    clauses.push(`id = $${params.length}`)
  }
  if (f.status === 'active' || f.status === 'expired') {
    params.push(f.now)
    clauses.push(`status = 'active' and expires_at ${f.status === 'active' ? '>' : '<='} $${params.length}`)
  } else if (f.status === 'ended' || f.status === 'revoked' || f.status === 'removed') {
    params.push(f.status)
    clauses.push(`status = $${params.length}`)
  } else if (f.status !== undefined) {
    clauses.push('false')
  }
  return { sql: clauses.join(' and '), params }
}

/** What a session token says of a live session: its person and the organization it acts in, if still a member. */
export interface TokenSubject {
  id: string
  user_id: string
  created_at: number
  /** Its latest activity: the sign-in, then the mints of its tokens (see stampActivity). */
  last_active_at: number
  org_id: string | null
  org_slug: string | null
  org_role: string | null
}

export interface ActivityStamp { instanceId: string; id: string; now: number; staleBefore: number }

/** A session named by its id, or by the hash of the Foyer cookie that carries it (a browser's handshake). */
export type SessionKey = { id: string } | { tokenHash: string }
const keyColumn = (key: SessionKey) => ('id' in key ? { column: 's.id', value: key.id } : { column: 's.token_hash', value: key.tokenHash })

export function createSessionStore() {
  return {
    async findById(q: Queryable, instanceId: string, id: string): Promise<SessionRecord | null> {
      const rows = await q.query<SessionRecord>(`select ${COLUMNS} from sessions where id = $1 and instance_id = $2`, [id, instanceId])
      return rows[0] ?? null
    },

    /** Newest first, like Clerk's list. */
    async page(q: Queryable, f: SessionFilter, limit: number, offset: number): Promise<SessionRecord[]> {
      const w = where(f)
      return q.query<SessionRecord>(
        `select ${COLUMNS} from sessions where ${w.sql} order by created_at desc, id desc limit $${w.params.length + 1} offset $${w.params.length + 2}`,
        [...w.params, limit, offset])
    },

    async count(q: Queryable, f: SessionFilter): Promise<number> {
      const w = where(f)
      const rows = await q.query<{ n: string | number }>(`select count(*) as n from sessions where ${w.sql}`, w.params)
      return Number(rows[0]!.n)
    },

    /** Revokes an active session; null when it is not active (any more), so a race has one winner. */
    async revoke(q: Queryable, instanceId: string, id: string, now: number): Promise<SessionRecord | null> {
      const rows = await q.query<SessionRecord>(`
        update sessions set status = 'revoked', updated_at = $3
        where id = $1 and instance_id = $2 and status = 'active'
        returning ${COLUMNS}`, [id, instanceId, now])
      return rows[0] ?? null
    },

    /** Revokes every active session of a user (banned or locked), answering those it revoked. */
    async revokeAllOfUser(q: Queryable, instanceId: string, userId: string, now: number): Promise<SessionRecord[]> {
      return q.query<SessionRecord>(`
        update sessions set status = 'revoked', updated_at = $3
        where user_id = $1 and instance_id = $2 and status = 'active'
        returning ${COLUMNS}`, [userId, instanceId, now])
    },

    /**
     * A live session with its user still there, and its active organization with the user's
     * role in it; a membership since removed leaves the organization out (the token must not
     * claim a role the person no longer has).
     */
    async findTokenSubject(q: Queryable, instanceId: string, key: SessionKey, now: number, organization?: { id: string | null }): Promise<TokenSubject | null> {
      const { column, value } = keyColumn(key)
      // `organization`, when given, stands in for the session's own active organization.
      const rows = await q.query<TokenSubject>(`
        select s.id, s.user_id, s.created_at, s.last_active_at, o.id as org_id, o.slug as org_slug, m.role as org_role
        from sessions s
        join users u on u.id = s.user_id and u.instance_id = s.instance_id and not u.banned
        left join organization_memberships m
          on m.organization_id = (case when $4::boolean then $5::text else s.active_organization_id end) and m.user_id = s.user_id and m.instance_id = s.instance_id
        left join organizations o on o.id = m.organization_id
        where ${column} = $1 and s.instance_id = $2 and s.status = 'active' and s.expires_at > $3`,
      [value, instanceId, now, organization !== undefined, organization?.id ?? null])
      return rows[0] ?? null
    },

    /**
     * Makes the organization named by id or slug the session's active one, if its person is a
     * member of it; '' makes none active. Anything else changes nothing (Clerk's rule), and
     * answers false.
     */
    async activateOrganization(q: Queryable, instanceId: string, key: SessionKey, idOrSlug: string): Promise<boolean> {
      const { column, value } = keyColumn(key)
      if (idOrSlug === '') {
        const rows = await q.query(`update sessions s set active_organization_id = null where ${column} = $1 and s.instance_id = $2 returning s.id`, [value, instanceId])
        return rows.length > 0
      }
      const rows = await q.query(`
        update sessions s set active_organization_id = m.organization_id
        from organization_memberships m join organizations o on o.id = m.organization_id
        where ${column} = $1 and s.instance_id = $2 and m.user_id = s.user_id and o.instance_id = s.instance_id and (o.id = $3 or o.slug = $3)
        returning s.id`,
      [value, instanceId, idOrSlug])
      return rows.length > 0
    },

    /**
     * Moves the session's `last_active_at` to `now` if it is older than `staleBefore`: of the
     * mints racing past a stale stamp, one writes, and the stamp never moves back.
     */
    /** Moves each session's `last_active_at` to its `now`, where it is still older than its `staleBefore`: several sessions in one statement. */
    async stampActivity(q: Queryable, stamps: readonly ActivityStamp[]): Promise<void> {
      // Not waited onto disk, as a handshake's nonce: a stamp lost with the database server
      // leaves an activity time a minute early.
      await q.query(`
        with async_commit as (select set_config('synchronous_commit', 'off', true))
        update sessions s set last_active_at = v.now
        from unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) as v (id, instance_id, now, stale_before), async_commit
        where s.id = v.id and s.instance_id = v.instance_id and s.last_active_at < v.stale_before`, [
        stamps.map((a) => a.id), stamps.map((a) => a.instanceId), stamps.map((a) => a.now), stamps.map((a) => a.staleBefore),
      ])
    },
  }
}

export type SessionStore = ReturnType<typeof createSessionStore>
