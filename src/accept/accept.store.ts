import type { Queryable } from '../platform/db/db.js'
import type { InvitationRow } from '../invitations/invitations.schemas.js'

export interface SessionRow {
  id: string
  instance_id: string
  user_id: string
  status: string
  expires_at: number
  last_active_at: number
  created_at: number
}

export interface SignUpAttemptRow {
  id: string
  instance_id: string
  email_address: string
  password_hash: string
  first_name: string | null
  last_name: string | null
  unsafe_metadata: Record<string, unknown>
  code_nonce: string
  code_expires_at: number
  failed_attempts: number
  status: string
  created_user_id: string | null
  created_at: number
  updated_at: number
}

// bigint columns arrive as strings from PostgreSQL.
function num<T>(row: T, keys: (keyof T)[]): T {
  const r = row as Record<keyof T, unknown>
  for (const k of keys) if (r[k] !== null) r[k] = Number(r[k])
  return row
}

// Moves the accepted invitation (CTE `inv`) between the sharded per-status counts, in the
// same statement; the shard choice mirrors invitations.store.ts.
const SHARD = `(txid_current() % 16)::smallint`

export function createAcceptStore() {
  return {
    async findInvitationByTicketHash(q: Queryable, ticketHash: string): Promise<InvitationRow | null> {
      const rows = await q.query<InvitationRow>('select * from invitations where ticket_hash = $1', [ticketHash])
      return rows[0] ? num(rows[0], ['expires_at', 'created_at', 'updated_at']) : null
    },

    /**
     * Marks a pending, unexpired invitation accepted, with its counts and outbox rows, in one
     * statement. The row lock makes two acceptances of one ticket queue up: the second sees
     * the first's commit, matches nothing, and gets null.
     */
    async acceptInvitation(q: Queryable, args: { id: string; ticketHash: string; userId: string; now: number; queuedAt: number; outbox: unknown[] }): Promise<InvitationRow | null> {
      const rows = await q.query<InvitationRow>(`
        with inv as (
          update invitations set status = 'accepted', accepted_by_user_id = $3, updated_at = $4
          where id = $1 and ticket_hash = $2 and status = 'pending' and expires_at > $4
          returning *
        ),
        counted as (
          insert into invitation_counts (instance_id, status, shard, n)
          select inv.instance_id, c.status, ${SHARD}, c.delta from inv, (values ('pending', -1), ('accepted', 1)) as c(status, delta)
          on conflict (instance_id, status, shard) do update set n = invitation_counts.n + excluded.n
        ),
        queued as (
          insert into outbox (id, instance_id, kind, topic, subject_id, payload, next_attempt_at, created_at, updated_at)
          select o->>'id', inv.instance_id, o->>'kind', o->>'topic', coalesce(o->>'subjectId', inv.id), o->'payload', $5, $5, $5
          from inv, jsonb_array_elements($6::jsonb) o
        )
        select * from inv`,
      [args.id, args.ticketHash, args.userId, args.now, args.queuedAt, JSON.stringify(args.outbox)])
      return rows[0] ? num(rows[0], ['expires_at', 'created_at', 'updated_at']) : null
    },

    async insertSession(q: Queryable, s: { id: string; instanceId: string; userId: string; tokenHash: string; expiresAt: number; now: number }): Promise<void> {
      await q.query(`
        insert into sessions (id, instance_id, user_id, token_hash, expires_at, last_active_at, created_at, updated_at)
        values ($1, $2, $3, $4, $5, $6, $6, $6)`,
      [s.id, s.instanceId, s.userId, s.tokenHash, s.expiresAt, s.now])
    },

    /** The active session a token belongs to; an ended or expired one is no session. */
    async findSession(q: Queryable, tokenHash: string, now: number): Promise<SessionRow | null> {
      const rows = await q.query<SessionRow>(`
        select id, instance_id, user_id, status, expires_at, last_active_at, created_at from sessions
        where token_hash = $1 and status = 'active' and expires_at > $2`,
      [tokenHash, now])
      return rows[0] ? num(rows[0], ['expires_at', 'last_active_at', 'created_at']) : null
    },

    async endSession(q: Queryable, tokenHash: string, now: number): Promise<void> {
      await q.query(`update sessions set status = 'ended', updated_at = $2 where token_hash = $1 and status = 'active'`, [tokenHash, now])
    },

    async insertSignUpAttempt(q: Queryable, a: Omit<SignUpAttemptRow, 'failed_attempts' | 'status' | 'created_user_id' | 'updated_at'>, outbox: unknown[], queuedAt: number): Promise<void> {
      await q.query(`
        with a as (
          insert into sign_up_attempts (id, instance_id, email_address, password_hash, first_name, last_name, code_nonce,
                                        code_expires_at, created_at, updated_at, unsafe_metadata)
          values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $12::jsonb) returning id, instance_id
        )
        insert into outbox (id, instance_id, kind, topic, subject_id, payload, next_attempt_at, created_at, updated_at)
        select o->>'id', a.instance_id, o->>'kind', o->>'topic', a.id, o->'payload', $10, $10, $10
        from a, jsonb_array_elements($11::jsonb) o`,
      [a.id, a.instance_id, a.email_address, a.password_hash, a.first_name, a.last_name, a.code_nonce, a.code_expires_at, a.created_at,
        queuedAt, JSON.stringify(outbox), JSON.stringify(a.unsafe_metadata)])
    },

    async findSignUpAttempt(q: Queryable, id: string): Promise<SignUpAttemptRow | null> {
      const rows = await q.query<SignUpAttemptRow>('select * from sign_up_attempts where id = $1', [id])
      return rows[0] ? num(rows[0], ['code_expires_at', 'created_at', 'updated_at']) : null
    },

    /**
     * Spends one try of a pending attempt before its code is compared, counting it as failed
     * until it turns out right; answers the tries spent, or null when none is left (or the
     * attempt is not pending). Guarded, so concurrent guesses cannot outnumber `max`.
     */
    async spendSignUpTry(q: Queryable, id: string, max: number, now: number): Promise<number | null> {
      const rows = await q.query<{ failed_attempts: number }>(`
        update sign_up_attempts set failed_attempts = failed_attempts + 1, updated_at = $3
        where id = $1 and status = 'pending' and failed_attempts < $2 returning failed_attempts`,
      [id, max, now])
      return rows[0]?.failed_attempts ?? null
    },

    /** Wrong codes typed for an address since `since`, over all its sign-up attempts. */
    async recentFailedTries(q: Queryable, instanceId: string, emailAddress: string, since: number): Promise<number> {
      const rows = await q.query<{ n: number }>(`
        select coalesce(sum(failed_attempts), 0)::int as n from sign_up_attempts
        where instance_id = $1 and email_address = $2 and created_at > $3`,
      [instanceId, emailAddress, since])
      return Number(rows[0]?.n ?? 0)
    },

    /** Ends an address's pending attempts: only the newest code can complete a sign-up. */
    async abandonSignUpAttempts(q: Queryable, instanceId: string, emailAddress: string, now: number): Promise<void> {
      await q.query(`
        update sign_up_attempts set status = 'abandoned', updated_at = $3
        where instance_id = $1 and email_address = $2 and status = 'pending'`,
      [instanceId, emailAddress, now])
    },

    /** Guarded: only a pending attempt completes, once; the try that completes it was no failure. */
    async completeSignUpAttempt(q: Queryable, id: string, userId: string, now: number): Promise<boolean> {
      const rows = await q.query(`
        update sign_up_attempts set status = 'complete', created_user_id = $2, failed_attempts = greatest(failed_attempts - 1, 0), updated_at = $3
        where id = $1 and status = 'pending' returning id`,
      [id, userId, now])
      return rows.length > 0
    },

    /** When the code that verified a user's address by `email_code` was due to expire, and how many wrong ones preceded it. */
    async findCodeVerification(q: Queryable, instanceId: string, emailAddress: string, userId: string): Promise<{ expire_at: number; failed_attempts: number } | null> {
      const rows = await q.query<{ expire_at: number; failed_attempts: number }>(`
        select code_expires_at as expire_at, failed_attempts from sign_up_attempts
        where instance_id = $1 and email_address = $2 and created_user_id = $3 and status = 'complete' limit 1`,
      [instanceId, emailAddress, userId])
      return rows[0] ? num(rows[0], ['expire_at']) : null
    },

    /** Queues outbox items for something that is not an invitation (user events, codes). */
    async enqueue(q: Queryable, instanceId: string, subjectId: string, outbox: unknown[], queuedAt: number): Promise<void> {
      if (outbox.length === 0) return
      await q.query(`
        insert into outbox (id, instance_id, kind, topic, subject_id, payload, next_attempt_at, created_at, updated_at)
        select o->>'id', $1, o->>'kind', o->>'topic', coalesce(o->>'subjectId', $2), o->'payload', $3, $3, $3
        from jsonb_array_elements($4::jsonb) o`,
      [instanceId, subjectId, queuedAt, JSON.stringify(outbox)])
    },
  }
}

export type AcceptStore = ReturnType<typeof createAcceptStore>
