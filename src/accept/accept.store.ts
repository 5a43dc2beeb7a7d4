import type { Queryable } from '../platform/db/db.js'
import type { InvitationRow } from '../invitations/invitations.schemas.js'
import type { SessionRecord } from '../sessions/sessions.store.js'

export interface SessionRow {
  id: string
  instance_id: string
  user_id: string
  status: string
  expires_at: number
  last_active_at: number
  created_at: number
  /** The organization the session acts in, while its person is still a member of it. */
  active_organization_id: string | null
}

// The session's active organization, only while its person is still a member of it.
const ACTIVE_ORGANIZATION = `(select m.organization_id from organization_memberships m
  where m.organization_id = s.active_organization_id and m.user_id = s.user_id and m.instance_id = s.instance_id) as active_organization_id`

export interface SignUpAttemptRow {
  id: string
  instance_id: string
  email_address: string
  /** The inbox the code goes to (mailboxOf), for the limit on code emails. */
  mailbox: string
  password_hash: string
  first_name: string | null
  last_name: string | null
  /** Lower-cased; the user's once created. */
  username: string | null
  unsafe_metadata: Record<string, unknown>
  code_nonce: string
  code_expires_at: number
  failed_attempts: number
  status: string
  created_user_id: string | null
  created_at: number
  updated_at: number
}

/** A ticket sign-up waiting for its password (migration 016). */
export interface TicketSignUpRow {
  id: string
  instance_id: string
  ticket_hash: string
  browser_hash: string
  email_address: string
  first_name: string | null
  last_name: string | null
  username: string | null
  unsafe_metadata: Record<string, unknown>
  status: 'pending' | 'complete'
  created_user_id: string | null
  created_session_id: string | null
  abandon_at: number
  created_at: number
  updated_at: number
}

/** What a pending ticket sign-up will give its user. */
export interface TicketSignUpChange {
  firstName: string | null
  lastName: string | null
  username: string | null
  unsafeMetadata: Record<string, unknown>
}

/** A sign-in waiting for its first factor (migration 017). */
export interface SignInAttemptRow {
  id: string
  instance_id: string
  identifier: string
  status: 'needs_first_factor' | 'complete'
  created_session_id: string | null
  abandon_at: number
  created_at: number
  updated_at: number
}

export function createAcceptStore() {
  return {
    async findInvitationByTicketHash(q: Queryable, ticketHash: string): Promise<InvitationRow | null> {
      const rows = await q.query<InvitationRow>('select * from invitations where ticket_hash = $1', [ticketHash])
      return rows[0] ?? null
    },

    /**
     * A new session acts in `activeOrganizationId` when given (the organization an invitation
     * just made the person a member of), else in the one their latest session acted in.
     * Answers the organization it acts in, if the person is (still) a member of it.
     */
    async insertSession(q: Queryable, s: { id: string; instanceId: string; userId: string; tokenHash: string; expiresAt: number; now: number; activeOrganizationId: string | null }): Promise<string | null> {
      await q.query(`
        insert into sessions (id, instance_id, user_id, token_hash, expires_at, last_active_at, created_at, updated_at, active_organization_id)
        values ($1, $2, $3, $4, $5, $6, $6, $6, coalesce($7, (
          select active_organization_id from sessions
          where instance_id = $2 and user_id = $3 and active_organization_id is not null
          order by created_at desc limit 1)))`,
      [s.id, s.instanceId, s.userId, s.tokenHash, s.expiresAt, s.now, s.activeOrganizationId])
      const rows = await q.query<{ active_organization_id: string | null }>(`select ${ACTIVE_ORGANIZATION} from sessions s where s.id = $1`, [s.id])
      return rows[0]?.active_organization_id ?? null
    },

    /** The active session a token belongs to; an ended or expired one is no session. */
    async findSession(q: Queryable, tokenHash: string, now: number): Promise<SessionRow | null> {
      const rows = await q.query<SessionRow>(`
        select s.id, s.instance_id, s.user_id, s.status, s.expires_at, s.last_active_at, s.created_at, ${ACTIVE_ORGANIZATION} from sessions s
        where s.token_hash = $1 and s.status = 'active' and s.expires_at > $2`,
      [tokenHash, now])
      return rows[0] ?? null
    },

    /**
     * Ends the active session a token belongs to, as 'ended' (signed out) or 'removed' (removed
     * from its client); null when there is none, so only one request ends it.
     */
    async endSession(q: Queryable, tokenHash: string, now: number, status: 'ended' | 'removed' = 'ended'): Promise<SessionRecord | null> {
      const rows = await q.query<SessionRecord>(`
        update sessions set status = $3, updated_at = $2 where token_hash = $1 and status = 'active'
        returning id, instance_id, user_id, status, expires_at, last_active_at, created_at, updated_at`, [tokenHash, now, status])
      return rows[0] ?? null
    },

    async insertSignUpAttempt(q: Queryable, a: Omit<SignUpAttemptRow, 'failed_attempts' | 'status' | 'created_user_id' | 'updated_at'>): Promise<void> {
      await q.query(`
        insert into sign_up_attempts (id, instance_id, email_address, password_hash, first_name, last_name, code_nonce,
                                      code_expires_at, created_at, updated_at, unsafe_metadata, mailbox, username)
        values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10::jsonb, $11, $12)`,
      [a.id, a.instance_id, a.email_address, a.password_hash, a.first_name, a.last_name, a.code_nonce, a.code_expires_at, a.created_at,
        JSON.stringify(a.unsafe_metadata), a.mailbox, a.username])
    },

    async findSignUpAttempt(q: Queryable, id: string): Promise<SignUpAttemptRow | null> {
      const rows = await q.query<SignUpAttemptRow>('select * from sign_up_attempts where id = $1', [id])
      return rows[0] ?? null
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

    /** Code emails to an inbox (mailboxOf) since `since`, and when the oldest of them was sent. */
    async codeEmailsSince(q: Queryable, instanceId: string, mailbox: string, since: number): Promise<{ count: number; oldest: number | null }> {
      const rows = await q.query<{ n: number; oldest: number | null }>(`
        select count(*)::int as n, min(sent_at) as oldest from sign_up_code_emails
        where instance_id = $1 and mailbox = $2 and sent_at > $3`,
      [instanceId, mailbox, since])
      return { count: Number(rows[0]?.n ?? 0), oldest: rows[0]?.oldest == null ? null : Number(rows[0].oldest) }
    },

    /** Counts one code email of an attempt (see codeEmailsSince). */
    async recordCodeEmail(q: Queryable, attempt: Pick<SignUpAttemptRow, 'id' | 'instance_id' | 'mailbox'>, sentAt: number): Promise<void> {
      await q.query('insert into sign_up_code_emails (attempt_id, instance_id, mailbox, sent_at) values ($1, $2, $3, $4)',
        [attempt.id, attempt.instance_id, attempt.mailbox, sentAt])
    },

    /**
     * A new code for a pending attempt: a new nonce (the old code stops working) and a new
     * expiry, if its last code was sent before `sentBefore`. Null otherwise (not pending, or
     * a code went out since), so of two racing requests one sends.
     */
    async renewSignUpCode(q: Queryable, id: string, nonce: string, expiresAt: number, sentBefore: number, ttlMs: number, now: number): Promise<SignUpAttemptRow | null> {
      const rows = await q.query<SignUpAttemptRow>(`
        update sign_up_attempts set code_nonce = $2, code_expires_at = $3, updated_at = $6
        where id = $1 and status = 'pending' and code_expires_at - $5 < $4 returning *`,
      [id, nonce, expiresAt, sentBefore, ttlMs, now])
      return rows[0] ?? null
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

    async insertTicketSignUp(q: Queryable, row: Omit<TicketSignUpRow, 'status' | 'created_user_id' | 'created_session_id' | 'updated_at'>): Promise<void> {
      await q.query(`
        insert into ticket_sign_ups (id, instance_id, ticket_hash, browser_hash, email_address, first_name, last_name, unsafe_metadata, abandon_at, created_at, updated_at, username)
        values ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, $10, $11)`,
      [row.id, row.instance_id, row.ticket_hash, row.browser_hash, row.email_address, row.first_name, row.last_name, JSON.stringify(row.unsafe_metadata),
        row.abandon_at, row.created_at, row.username])
    },

    async findTicketSignUp(q: Queryable, id: string): Promise<TicketSignUpRow | null> {
      const rows = await q.query<TicketSignUpRow>('select * from ticket_sign_ups where id = $1', [id])
      return rows[0] ?? null
    },

    /** Changes what a pending ticket sign-up will give its user; null once it is no longer pending. */
    async updateTicketSignUp(q: Queryable, id: string, change: TicketSignUpChange, now: number): Promise<TicketSignUpRow | null> {
      const rows = await q.query<TicketSignUpRow>(`
        update ticket_sign_ups set first_name = $2, last_name = $3, unsafe_metadata = $4::jsonb, updated_at = $5, username = $6
        where id = $1 and status = 'pending' returning *`,
      [id, change.firstName, change.lastName, JSON.stringify(change.unsafeMetadata), now, change.username])
      return rows[0] ?? null
    },

    /** Guarded: a pending ticket sign-up completes once; null for every other try. */
    async completeTicketSignUp(q: Queryable, id: string, done: TicketSignUpChange & { userId: string; sessionId: string }, now: number): Promise<TicketSignUpRow | null> {
      const rows = await q.query<TicketSignUpRow>(`
        update ticket_sign_ups set status = 'complete', created_user_id = $2, created_session_id = $3, first_name = $4, last_name = $5, unsafe_metadata = $6::jsonb, updated_at = $7, username = $8
        where id = $1 and status = 'pending' returning *`,
      [id, done.userId, done.sessionId, done.firstName, done.lastName, JSON.stringify(done.unsafeMetadata), now, done.username])
      return rows[0] ?? null
    },

    async insertSignInAttempt(q: Queryable, row: Pick<SignInAttemptRow, 'id' | 'instance_id' | 'identifier' | 'abandon_at' | 'created_at'>): Promise<void> {
      await q.query(`
        insert into sign_in_attempts (id, instance_id, identifier, abandon_at, created_at, updated_at) values ($1, $2, $3, $4, $5, $5)`,
      [row.id, row.instance_id, row.identifier, row.abandon_at, row.created_at])
    },

    async findSignInAttempt(q: Queryable, id: string): Promise<SignInAttemptRow | null> {
      const rows = await q.query<SignInAttemptRow>('select * from sign_in_attempts where id = $1', [id])
      return rows[0] ?? null
    },

    /** Guarded: a waiting sign-in completes once; null for every other try. */
    async completeSignInAttempt(q: Queryable, id: string, sessionId: string, now: number): Promise<SignInAttemptRow | null> {
      const rows = await q.query<SignInAttemptRow>(`
        update sign_in_attempts set status = 'complete', created_session_id = $2, updated_at = $3
        where id = $1 and status = 'needs_first_factor' returning *`, [id, sessionId, now])
      return rows[0] ?? null
    },

    /** When the code that verified a user's address by `email_code` was due to expire, and how many wrong ones preceded it. */
    async findCodeVerification(q: Queryable, instanceId: string, emailAddress: string, userId: string): Promise<{ expire_at: number; failed_attempts: number } | null> {
      const rows = await q.query<{ expire_at: number; failed_attempts: number }>(`
        select code_expires_at as expire_at, failed_attempts from sign_up_attempts
        where instance_id = $1 and email_address = $2 and created_user_id = $3 and status = 'complete' limit 1`,
      [instanceId, emailAddress, userId])
      return rows[0] ?? null
    },
  }
}

export type AcceptStore = ReturnType<typeof createAcceptStore>
