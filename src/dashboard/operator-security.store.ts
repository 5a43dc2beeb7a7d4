import type { Queryable } from '../platform/db/db.js'

export interface OperatorTotpRow {
  id: string
  email_address: string
  password_hash: string
  totp_secret: string | null
  totp_enabled_at: number | null
  totp_last_step: number | null
}

export interface SignInChallengeRow {
  token_hash: string
  operator_id: string
  created_at: number
  expires_at: number
  failed_attempts: number
}

export interface OperatorSessionListRow {
  id: string
  token_hash: string
  created_at: number
  expires_at: number
  last_seen_at: number | null
  ip: string | null
  user_agent: string | null
}

export interface PasswordResetRow {
  id: string
  operator_id: string
  nonce: string
  token_hash: string
  created_at: number
  expires_at: number
  used_at: number | null
}

/** SQL of TOTP, recovery codes, sign-in challenges, the dashboard-wide rule, session lists and password resets. */
export function createOperatorSecurityStore() {
  return {
    async findOperator(q: Queryable, id: string): Promise<OperatorTotpRow | null> {
      const rows = await q.query<OperatorTotpRow>(
        'select id, email_address, password_hash, totp_secret, totp_enabled_at, totp_last_step from operators where id = $1', [id])
      return rows[0] ?? null
    },

    async findOperatorByEmail(q: Queryable, emailAddress: string): Promise<OperatorTotpRow | null> {
      const rows = await q.query<OperatorTotpRow>(
        'select id, email_address, password_hash, totp_secret, totp_enabled_at, totp_last_step from operators where email_address = $1', [emailAddress])
      return rows[0] ?? null
    },

    /** A new pending secret; refused (null) while TOTP is on, so a stolen session cannot swap the secret. */
    async startTotp(q: Queryable, operatorId: string, sealedSecret: string, now: number): Promise<boolean> {
      const rows = await q.query(
        'update operators set totp_secret = $2, totp_last_step = null, updated_at = $3 where id = $1 and totp_enabled_at is null returning id',
        [operatorId, sealedSecret, now])
      return rows.length > 0
    },

    async enableTotp(q: Queryable, operatorId: string, step: number, now: number): Promise<boolean> {
      const rows = await q.query(
        'update operators set totp_enabled_at = $3, totp_last_step = $2, updated_at = $3 where id = $1 and totp_enabled_at is null and totp_secret is not null returning id',
        [operatorId, step, now])
      return rows.length > 0
    },

    async disableTotp(q: Queryable, operatorId: string, now: number): Promise<void> {
      await q.query('update operators set totp_secret = null, totp_enabled_at = null, totp_last_step = null, updated_at = $2 where id = $1', [operatorId, now])
      await q.query('delete from operator_recovery_codes where operator_id = $1', [operatorId])
    },

    /**
     * Guarded: a time step is accepted once. Two requests racing with the same code (or a code
     * seen over a shoulder) cannot both pass, nor can a code older than the last accepted one.
     */
    async useTotpStep(q: Queryable, operatorId: string, step: number): Promise<boolean> {
      const rows = await q.query(
        'update operators set totp_last_step = $2 where id = $1 and totp_enabled_at is not null and (totp_last_step is null or totp_last_step < $2) returning id',
        [operatorId, step])
      return rows.length > 0
    },

    async replaceRecoveryCodes(q: Queryable, operatorId: string, hashes: string[], now: number): Promise<void> {
      await q.query('delete from operator_recovery_codes where operator_id = $1', [operatorId])
      for (const hash of hashes) {
        await q.query('insert into operator_recovery_codes (operator_id, code_hash, created_at) values ($1, $2, $3)', [operatorId, hash, now])
      }
    },

    /** Guarded: one caller uses a recovery code; null when it is unknown or used. */
    async useRecoveryCode(q: Queryable, operatorId: string, hash: string, now: number): Promise<boolean> {
      const rows = await q.query(
        'update operator_recovery_codes set used_at = $3 where operator_id = $1 and code_hash = $2 and used_at is null returning code_hash',
        [operatorId, hash, now])
      return rows.length > 0
    },

    async unusedRecoveryCodes(q: Queryable, operatorId: string): Promise<number> {
      const rows = await q.query<{ n: number | string }>('select count(*) as n from operator_recovery_codes where operator_id = $1 and used_at is null', [operatorId])
      return Number(rows[0]?.n ?? 0)
    },

    async insertChallenge(q: Queryable, row: Omit<SignInChallengeRow, 'failed_attempts'>): Promise<void> {
      await q.query('delete from operator_sign_in_challenges where expires_at <= $1', [row.created_at])
      await q.query('insert into operator_sign_in_challenges (token_hash, operator_id, created_at, expires_at) values ($1, $2, $3, $4)',
        [row.token_hash, row.operator_id, row.created_at, row.expires_at])
    },

    async findChallenge(q: Queryable, tokenHash: string, now: number): Promise<SignInChallengeRow | null> {
      const rows = await q.query<SignInChallengeRow>('select * from operator_sign_in_challenges where token_hash = $1 and expires_at > $2', [tokenHash, now])
      return rows[0] ?? null
    },

    /** Counts a wrong code; the challenge dies at `max` so that its few minutes allow few guesses. */
    async failChallenge(q: Queryable, tokenHash: string, max: number): Promise<void> {
      await q.query('update operator_sign_in_challenges set failed_attempts = failed_attempts + 1 where token_hash = $1', [tokenHash])
      await q.query('delete from operator_sign_in_challenges where token_hash = $1 and failed_attempts >= $2', [tokenHash, max])
    },

    /** Guarded: a challenge completes once; null when already used, expired or unknown. */
    async takeChallenge(q: Queryable, tokenHash: string, now: number): Promise<SignInChallengeRow | null> {
      const rows = await q.query<SignInChallengeRow>('delete from operator_sign_in_challenges where token_hash = $1 and expires_at > $2 returning *', [tokenHash, now])
      return rows[0] ?? null
    },

    async deleteChallengesOf(q: Queryable, operatorId: string): Promise<void> {
      await q.query('delete from operator_sign_in_challenges where operator_id = $1', [operatorId])
    },

    async requireTotp(q: Queryable): Promise<boolean> {
      const rows = await q.query<{ require_totp: boolean }>('select require_totp from dashboard_settings where id')
      return rows[0]?.require_totp ?? false
    },

    async setRequireTotp(q: Queryable, value: boolean, now: number): Promise<void> {
      await q.query(`
        insert into dashboard_settings (id, require_totp, updated_at) values (true, $1, $2)
        on conflict (id) do update set require_totp = excluded.require_totp, updated_at = excluded.updated_at`, [value, now])
    },

    async listSessions(q: Queryable, operatorId: string, now: number): Promise<OperatorSessionListRow[]> {
      return q.query<OperatorSessionListRow>(`
        select id, token_hash, created_at, expires_at, last_seen_at, ip, user_agent from operator_sessions
        where operator_id = $1 and expires_at > $2 order by created_at desc, id`, [operatorId, now])
    },

    /** Ends one of the operator's sessions; another operator's id ends nothing. */
    async deleteSessionById(q: Queryable, operatorId: string, id: string): Promise<boolean> {
      const rows = await q.query('delete from operator_sessions where operator_id = $1 and id = $2 returning id', [operatorId, id])
      return rows.length > 0
    },

    async deleteOtherSessions(q: Queryable, operatorId: string, keepTokenHash: string | null): Promise<number> {
      const rows = await q.query('delete from operator_sessions where operator_id = $1 and token_hash <> $2 returning id', [operatorId, keepTokenHash ?? ''])
      return rows.length
    },

    /** Marks a session seen at most once a minute: a write per page view would cost more than it tells. */
    async touchSession(q: Queryable, tokenHash: string, now: number, staleBefore: number): Promise<void> {
      await q.query('update operator_sessions set last_seen_at = $2 where token_hash = $1 and (last_seen_at is null or last_seen_at < $3)', [tokenHash, now, staleBefore])
    },

    async describeSession(q: Queryable, tokenHash: string, ip: string | null, userAgent: string | null): Promise<void> {
      await q.query('update operator_sessions set ip = $2, user_agent = $3 where token_hash = $1', [tokenHash, ip, userAgent])
    },

    async insertReset(q: Queryable, row: Omit<PasswordResetRow, 'used_at'>): Promise<void> {
      await q.query(`insert into operator_password_resets (id, operator_id, nonce, token_hash, created_at, expires_at) values ($1, $2, $3, $4, $5, $6)`,
        [row.id, row.operator_id, row.nonce, row.token_hash, row.created_at, row.expires_at])
    },

    async retireResets(q: Queryable, operatorId: string, now: number): Promise<void> {
      await q.query('update operator_password_resets set used_at = $2 where operator_id = $1 and used_at is null', [operatorId, now])
    },

    async resetsSince(q: Queryable, operatorId: string, since: number): Promise<number> {
      const rows = await q.query<{ n: number | string }>('select count(*) as n from operator_password_resets where operator_id = $1 and created_at > $2', [operatorId, since])
      return Number(rows[0]?.n ?? 0)
    },

    async findReset(q: Queryable, id: string): Promise<(PasswordResetRow & { email_address: string }) | null> {
      const rows = await q.query<PasswordResetRow & { email_address: string }>(`
        select r.*, o.email_address from operator_password_resets r join operators o on o.id = r.operator_id where r.id = $1`, [id])
      return rows[0] ?? null
    },

    async findUsableReset(q: Queryable, tokenHash: string, now: number): Promise<PasswordResetRow | null> {
      const rows = await q.query<PasswordResetRow>('select * from operator_password_resets where token_hash = $1 and used_at is null and expires_at > $2', [tokenHash, now])
      return rows[0] ?? null
    },

    /** Guarded: one reset consumes the link; every other open link of the operator dies with it. */
    async useReset(q: Queryable, tokenHash: string, now: number): Promise<PasswordResetRow | null> {
      const rows = await q.query<PasswordResetRow>(
        'update operator_password_resets set used_at = $2 where token_hash = $1 and used_at is null and expires_at > $2 returning *', [tokenHash, now])
      const row = rows[0]
      if (!row) return null
      await q.query('update operator_password_resets set used_at = $2 where operator_id = $1 and used_at is null', [row.operator_id, now])
      return row
    },

    async setPassword(q: Queryable, operatorId: string, passwordHash: string, now: number): Promise<void> {
      await q.query('update operators set password_hash = $2, updated_at = $3 where id = $1', [operatorId, passwordHash, now])
    },

    async deleteSessionsOf(q: Queryable, operatorId: string): Promise<void> {
      await q.query('delete from operator_sessions where operator_id = $1', [operatorId])
    },

    /** The instance whose outbox and development mailbox carry dashboard emails: the default one, else the oldest. */
    async mailInstanceId(q: Queryable): Promise<string | null> {
      const rows = await q.query<{ id: string }>('select id from instances order by is_default desc, created_at, id limit 1')
      return rows[0]?.id ?? null
    },
  }
}

export type OperatorSecurityStore = ReturnType<typeof createOperatorSecurityStore>
