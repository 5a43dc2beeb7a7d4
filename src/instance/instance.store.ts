import type { Queryable } from '../platform/db/db.js'
import type { InstanceRow, RateLimits } from './instance.schemas.js'

export interface InstanceChanges {
  name?: string
  sign_up_mode?: string
  home_url?: string | null
  after_sign_up_url?: string | null
  rate_limits?: Partial<RateLimits>
}

export function createInstanceStore() {
  return {
    async insert(q: Queryable, row: Omit<InstanceRow, 'rate_limits' | 'clock_offset_ms' | 'sign_up_mode' | 'home_url' | 'after_sign_up_url'>, keyHash: string): Promise<InstanceRow> {
      const rows = await q.query<InstanceRow>(`
        with inst as (
          insert into instances (id, name, environment_type, publishable_key, is_default, created_at, updated_at)
          values ($1, $2, $3, $4, $5, $6, $6) returning *
        ), key as (insert into secret_keys (key_hash, instance_id, created_at) select $7, id, $6 from inst)
        select * from inst`,
      [row.id, row.name, row.environment_type, row.publishable_key, row.is_default, row.created_at, keyHash])
      return rows[0]!
    },

    async findByKeyHash(q: Queryable, keyHash: string): Promise<InstanceRow | null> {
      const rows = await q.query<InstanceRow>(
        'select i.* from instances i join secret_keys k on k.instance_id = i.id where k.key_hash = $1', [keyHash])
      return rows[0] ?? null
    },

    async findDefault(q: Queryable): Promise<InstanceRow | null> {
      const rows = await q.query<InstanceRow>('select * from instances where is_default order by created_at limit 1')
      return rows[0] ?? null
    },

    async findById(q: Queryable, id: string): Promise<InstanceRow | null> {
      const rows = await q.query<InstanceRow>('select * from instances where id = $1', [id])
      return rows[0] ?? null
    },

    /** Makes `keyHash` the instance's only key. */
    async replaceKeys(q: Queryable, instanceId: string, keyHash: string, environmentType: string, now: number): Promise<void> {
      await q.query('delete from secret_keys where instance_id = $1', [instanceId])
      await q.query('insert into secret_keys (key_hash, instance_id, created_at) values ($1, $2, $3)', [keyHash, instanceId, now])
      await q.query('update instances set environment_type = $2, updated_at = $3 where id = $1', [instanceId, environmentType, now])
    },

    async update(q: Queryable, id: string, changes: InstanceChanges, now: number): Promise<InstanceRow | null> {
      const rows = await q.query<InstanceRow>(`
        update instances set
          name = coalesce($2, name),
          sign_up_mode = coalesce($3, sign_up_mode),
          home_url = case when $4::boolean then $5 else home_url end,
          after_sign_up_url = case when $6::boolean then $7 else after_sign_up_url end,
          rate_limits = rate_limits || $8::jsonb,
          updated_at = $9
        where id = $1 returning *`,
      [id, changes.name ?? null, changes.sign_up_mode ?? null,
        'home_url' in changes, changes.home_url ?? null,
        'after_sign_up_url' in changes, changes.after_sign_up_url ?? null,
        JSON.stringify(changes.rate_limits ?? {}), now])
      return rows[0] ?? null
    },

    async advanceClock(q: Queryable, id: string, ms: number): Promise<InstanceRow | null> {
      const rows = await q.query<InstanceRow>(
        'update instances set clock_offset_ms = clock_offset_ms + $2 where id = $1 returning *', [id, ms])
      return rows[0] ?? null
    },
  }
}

export type InstanceStore = ReturnType<typeof createInstanceStore>
