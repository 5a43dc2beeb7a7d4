import type { Queryable } from '../platform/db/db.js'
import type { InstanceRow } from '../instance/instance.schemas.js'

export interface OperatorRow {
  id: string
  email_address: string
  password_hash: string
  created_at: number
  updated_at: number
  /** Set once one-time codes are on (migration 031): sign-in then asks for a code too. */
  totp_enabled_at?: number | null
}

export interface OperatorSessionRow {
  token_hash: string
  operator_id: string
  created_at: number
  expires_at: number
  /** Names the session on the Account page; the token's hash is never shown. */
  id: string
  ip: string | null
  user_agent: string | null
}

// Any constant works; every Foyer process must use the same one.
const SETUP_LOCK = 7_210_514_009

export function createDashboardStore() {
  return {
    async hasOperator(q: Queryable): Promise<boolean> {
      const rows = await q.query('select 1 from operators limit 1')
      return rows.length > 0
    },

    /** Serialises first-operator setups: two setup links used at once must not make two operators. */
    async lockSetup(q: Queryable): Promise<void> {
      await q.query('select pg_advisory_xact_lock($1)', [SETUP_LOCK])
    },

    async insertSetupToken(q: Queryable, tokenHash: string, now: number, expiresAt: number): Promise<void> {
      await q.query('insert into operator_setup_tokens (token_hash, created_at, expires_at) values ($1, $2, $3)', [tokenHash, now, expiresAt])
    },

    async findUsableSetupToken(q: Queryable, tokenHash: string, now: number): Promise<boolean> {
      const rows = await q.query('select 1 from operator_setup_tokens where token_hash = $1 and used_at is null and expires_at > $2', [tokenHash, now])
      return rows.length > 0
    },

    /** Guarded: exactly one caller consumes a token; null means it was unknown, used or expired. */
    async useSetupToken(q: Queryable, tokenHash: string, now: number): Promise<{ token_hash: string } | null> {
      const rows = await q.query<{ token_hash: string }>(
        'update operator_setup_tokens set used_at = $2 where token_hash = $1 and used_at is null and expires_at > $2 returning token_hash',
        [tokenHash, now])
      return rows[0] ?? null
    },

    /** Once an operator exists no setup link may create another, whether or not it was used. */
    async closeSetup(q: Queryable, now: number): Promise<void> {
      await q.query('update operator_setup_tokens set used_at = $1 where used_at is null', [now])
    },

    async insertOperator(q: Queryable, row: OperatorRow): Promise<OperatorRow> {
      const rows = await q.query<OperatorRow>(
        'insert into operators (id, email_address, password_hash, created_at, updated_at) values ($1, $2, $3, $4, $5) returning *',
        [row.id, row.email_address, row.password_hash, row.created_at, row.updated_at])
      return rows[0]!
    },

    async findOperatorByEmail(q: Queryable, emailAddress: string): Promise<OperatorRow | null> {
      const rows = await q.query<OperatorRow>('select * from operators where email_address = $1', [emailAddress])
      return rows[0] ?? null
    },

    async insertSession(q: Queryable, row: OperatorSessionRow): Promise<void> {
      await q.query(`
        insert into operator_sessions (token_hash, operator_id, created_at, expires_at, id, ip, user_agent, last_seen_at)
        values ($1, $2, $3, $4, $5, $6, $7, $3)`,
      [row.token_hash, row.operator_id, row.created_at, row.expires_at, row.id, row.ip, row.user_agent])
    },

    async findSession(q: Queryable, tokenHash: string, now: number): Promise<(OperatorRow & { session_expires_at: number }) | null> {
      const rows = await q.query<OperatorRow & { session_expires_at: number }>(`
        select o.*, s.expires_at as session_expires_at from operator_sessions s join operators o on o.id = s.operator_id
        where s.token_hash = $1 and s.expires_at > $2`, [tokenHash, now])
      return rows[0] ?? null
    },

    async deleteSession(q: Queryable, tokenHash: string): Promise<boolean> {
      return (await q.query('delete from operator_sessions where token_hash = $1 returning 1', [tokenHash])).length > 0
    },

    async deleteExpiredSessions(q: Queryable, now: number): Promise<void> {
      await q.query('delete from operator_sessions where expires_at <= $1', [now])
    },

    /** Every instance, default first: the switcher lists them all. */
    async listInstances(q: Queryable): Promise<InstanceRow[]> {
      return q.query<InstanceRow>('select * from instances order by is_default desc, created_at, id')
    },

    async findInstance(q: Queryable, id: string): Promise<InstanceRow | null> {
      const rows = await q.query<InstanceRow>('select * from instances where id = $1', [id])
      return rows[0] ?? null
    },
  }
}

export type DashboardStore = ReturnType<typeof createDashboardStore>
