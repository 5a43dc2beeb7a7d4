import type { Queryable } from '../platform/db/db.js'
import type { EmailAddressRow } from './users.store.js'

export type EmailAddressWithUser = EmailAddressRow & { user_id: string; is_primary: boolean }

const COLUMNS = `e.id, e.user_id, e.email_address, e.verification_strategy, e.verified_at, e.created_at,
  (u.primary_email_address_id = e.id) as is_primary`

export function createEmailAddressStore() {
  return {
    async findById(q: Queryable, instanceId: string, id: string): Promise<EmailAddressWithUser | null> {
      const rows = await q.query<EmailAddressWithUser>(`
        select ${COLUMNS} from email_addresses e join users u on u.id = e.user_id
        where e.id = $1 and e.instance_id = $2`, [id, instanceId])
      return rows[0] ?? null
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
