import type { Queryable } from '../platform/db/db.js'

export interface SigningKeyRow {
  id: string
  instance_id: string
  sealed_private_key: string
  public_key_pem: string
  n: string
  e: string
  created_at: number
  retired_at: number | null
}

export type NewSigningKey = Omit<SigningKeyRow, 'retired_at'>

export function createSigningKeyStore() {
  return {
    async findCurrent(q: Queryable, instanceId: string): Promise<SigningKeyRow | null> {
      const rows = await q.query<SigningKeyRow>('select * from signing_keys where instance_id = $1 and retired_at is null', [instanceId])
      return rows[0] ?? null
    },

    /** One of the instance's keys, current or retired, as long as it is kept. */
    async findById(q: Queryable, instanceId: string, id: string): Promise<SigningKeyRow | null> {
      const rows = await q.query<SigningKeyRow>('select * from signing_keys where id = $1 and instance_id = $2', [id, instanceId])
      return rows[0] ?? null
    },

    /** Inserts `key` as the instance's current key, unless it has one already: then nothing (null). */
    async insertCurrent(q: Queryable, key: NewSigningKey): Promise<SigningKeyRow | null> {
      const rows = await q.query<SigningKeyRow>(`
        insert into signing_keys (id, instance_id, sealed_private_key, public_key_pem, n, e, created_at)
        values ($1, $2, $3, $4, $5, $6, $7)
        on conflict (instance_id) where retired_at is null do nothing
        returning *`,
      [key.id, key.instance_id, key.sealed_private_key, key.public_key_pem, key.n, key.e, key.created_at])
      return rows[0] ?? null
    },

    /** Retires the instance's current key (`keyId` only, when given); false when there was none to retire. */
    async retireCurrent(q: Queryable, instanceId: string, now: number, keyId?: string): Promise<boolean> {
      const rows = await q.query(`
        update signing_keys set retired_at = $2
        where instance_id = $1 and retired_at is null and ($3::text is null or id = $3) returning id`, [instanceId, now, keyId ?? null])
      return rows.length > 0
    },

    /** The current key and the keys retired after `retiredAfter`: the current one first, then newest first. */
    async listPublished(q: Queryable, instanceId: string, retiredAfter: number): Promise<SigningKeyRow[]> {
      return q.query<SigningKeyRow>(`
        select * from signing_keys where instance_id = $1 and (retired_at is null or retired_at > $2)
        order by retired_at is null desc, created_at desc, id desc`, [instanceId, retiredAfter])
    },

    /** Drops keys retired at or before `retiredBy`: nothing verifies with them any more. */
    async deleteRetired(q: Queryable, instanceId: string, retiredBy: number): Promise<void> {
      await q.query('delete from signing_keys where instance_id = $1 and retired_at <= $2', [instanceId, retiredBy])
    },
  }
}

export type SigningKeyStore = ReturnType<typeof createSigningKeyStore>
