import type { Queryable } from '../platform/db/db.js'
import type { EmailAddressRow } from './users.store.js'

export type EmailAddressWithUser = EmailAddressRow & { user_id: string; is_primary: boolean; code_nonce: string | null }

const COLUMNS = `e.id, e.user_id, e.email_address, e.verification_strategy, e.verified_at, e.created_at,
  e.code_nonce, e.code_expires_at, e.code_failed_attempts, (u.primary_email_address_id = e.id) as is_primary`

export function createEmailAddressStore() {
  return {
    async findById(q: Queryable, instanceId: string, id: string): Promise<EmailAddressWithUser | null> {
      const rows = await q.query<EmailAddressWithUser>(`
        select ${COLUMNS} from email_addresses e join users u on u.id = e.user_id
        where e.id = $1 and e.instance_id = $2`, [id, instanceId])
      return rows[0] ?? null
    },

    async listForUser(q: Queryable, instanceId: string, userId: string): Promise<EmailAddressWithUser[]> {
      return q.query<EmailAddressWithUser>(`
        select ${COLUMNS} from email_addresses e join users u on u.id = e.user_id
        where e.user_id = $1 and e.instance_id = $2 order by e.created_at, e.id`, [userId, instanceId])
    },

    /**
     * A new code for an unverified address: a new nonce (the old code stops working), expiry and
     * tries, if no code went out since `sentBefore`. False otherwise, so of two racing requests one sends.
     */
    async renewCode(q: Queryable, id: string, c: { nonce: string; expiresAt: number; sentBefore: number; ttlMs: number }): Promise<boolean> {
      const rows = await q.query(`
        update email_addresses set code_nonce = $2, code_expires_at = $3, code_failed_attempts = 0
        where id = $1 and verified_at is null and (code_expires_at is null or code_expires_at - $5::bigint < $4::bigint) returning id`,
      [id, c.nonce, c.expiresAt, c.sentBefore, c.ttlMs])
      return rows.length > 0
    },

    /** Spends one try of the current code before it is compared: the tries spent, or null when none is left. */
    async spendTry(q: Queryable, id: string, nonce: string, max: number): Promise<number | null> {
      const rows = await q.query<{ n: number }>(`
        update email_addresses set code_failed_attempts = code_failed_attempts + 1
        where id = $1 and code_nonce = $2 and verified_at is null and code_failed_attempts < $3 returning code_failed_attempts as n`, [id, nonce, max])
      return rows[0] ? Number(rows[0].n) : null
    },

    /** Verifies the address by its code, once: the code is used up, and the try that typed it is no failure. */
    async verifyByCode(q: Queryable, id: string, nonce: string, now: number): Promise<boolean> {
      const rows = await q.query(`
        update email_addresses set verification_strategy = 'email_code', verified_at = $3, code_nonce = null, code_failed_attempts = code_failed_attempts - 1
        where id = $1 and code_nonce = $2 and verified_at is null returning id`, [id, nonce, now])
      return rows.length > 0
    },

    /** Locks the user's row so that changes to its set of addresses and its primary one are serialised. */
    async lockUser(q: Queryable, instanceId: string, userId: string): Promise<{ primary_email_address_id: string | null } | null> {
      const rows = await q.query<{ primary_email_address_id: string | null }>(
        'select primary_email_address_id from users where id = $1 and instance_id = $2 for update', [userId, instanceId])
      return rows[0] ?? null
    },

    /** Throws a unique violation (23505) when the instance already holds the (lower-cased) address. */
    async insert(q: Queryable, row: { id: string; instanceId: string; userId: string; emailAddress: string; verification: 'admin' | null; now: number }): Promise<void> {
      await q.query(`
        insert into email_addresses (id, instance_id, user_id, email_address, verification_strategy, verified_at, created_at)
        values ($1, $2, $3, $4, $5::text, case when $5::text is null then null else $6::bigint end, $6)`,
      [row.id, row.instanceId, row.userId, row.emailAddress, row.verification, row.now])
    },

    async setVerified(q: Queryable, instanceId: string, id: string, verified: boolean, now: number): Promise<void> {
      // Verifying keeps an earlier proof (ticket, code); unverifying forgets how it was proved.
      if (verified) {
        await q.query(`update email_addresses set verification_strategy = coalesce(verification_strategy, 'admin'), verified_at = coalesce(verified_at, $3)
                       where id = $1 and instance_id = $2`, [id, instanceId, now])
      } else {
        await q.query('update email_addresses set verification_strategy = null, verified_at = null where id = $1 and instance_id = $2', [id, instanceId])
      }
    },

    async setPrimary(q: Queryable, instanceId: string, userId: string, emailId: string | null, now: number): Promise<void> {
      await q.query('update users set primary_email_address_id = $3, updated_at = $4 where id = $1 and instance_id = $2', [userId, instanceId, emailId, now])
    },

    async touchUser(q: Queryable, instanceId: string, userId: string, now: number): Promise<void> {
      await q.query('update users set updated_at = $3 where id = $1 and instance_id = $2', [userId, instanceId, now])
    },

    async countForUser(q: Queryable, userId: string): Promise<number> {
      const rows = await q.query<{ n: string | number }>('select count(*)::int8 as n from email_addresses where user_id = $1', [userId])
      return Number(rows[0]?.n ?? 0)
    },

    async remove(q: Queryable, instanceId: string, id: string): Promise<boolean> {
      const rows = await q.query('delete from email_addresses where id = $1 and instance_id = $2 returning id', [id, instanceId])
      return rows.length > 0
    },
  }
}

export type EmailAddressStore = ReturnType<typeof createEmailAddressStore>
