import type { Queryable } from '../platform/db/db.js'

export function createUserStore() {
  return {
    /** A user with one email address; the address is lower-cased like every stored address. */
    async insert(q: Queryable, user: { id: string; instanceId: string; emailId: string; emailAddress: string; publicMetadata?: Record<string, unknown>; now: number }): Promise<void> {
      await q.query(`
        with u as (
          insert into users (id, instance_id, public_metadata, created_at, updated_at) values ($1, $2, $3::jsonb, $4, $4) returning id
        )
        insert into email_addresses (id, instance_id, user_id, email_address, created_at) select $5, $2, u.id, $6, $4 from u`,
      [user.id, user.instanceId, JSON.stringify(user.publicMetadata ?? {}), user.now, user.emailId, user.emailAddress.toLowerCase()])
    },
  }
}

export type UserStore = ReturnType<typeof createUserStore>
