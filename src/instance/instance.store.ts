import type { Queryable } from '../platform/db/db.js'
import type { InstanceRow, RateLimits, UserLockout, UsernameSettings } from './instance.schemas.js'

export interface InstanceChanges {
  name?: string
  sign_up_mode?: string
  home_url?: string | null
  after_sign_up_url?: string | null
  rate_limits?: Partial<RateLimits>
  user_lockout?: Partial<UserLockout>
  username_settings?: Partial<UsernameSettings>
  allowed_redirect_origins?: readonly string[]
  remind_before_expiry_days?: number
}

export interface SecretKeyRow {
  id: string
  instance_id: string
  key_hash: string
  hint: string | null
  sealed_key: string | null
  created_at: number
  expires_at: number | null
}

export type NewSecretKey = Pick<SecretKeyRow, 'id' | 'key_hash' | 'hint' | 'sealed_key'>

/** The instance a key selects, with when that key stops working (null: never). */
export type KeyedInstanceRow = InstanceRow & { key_expires_at: number | null; key_id: string; key_hint: string | null }

export function createInstanceStore() {
  return {
    async insert(q: Queryable, row: Omit<InstanceRow, 'rate_limits' | 'user_lockout' | 'username_settings' | 'clock_offset_ms' | 'sign_up_mode' | 'home_url' | 'after_sign_up_url' | 'allowed_redirect_origins' | 'remind_before_expiry_days'>, key: NewSecretKey): Promise<InstanceRow> {
      const rows = await q.query<InstanceRow>(`
        with inst as (
          insert into instances (id, name, environment_type, publishable_key, is_default, created_at, updated_at)
          values ($1, $2, $3, $4, $5, $6, $6) returning *
        ), key as (
          insert into secret_keys (id, key_hash, hint, sealed_key, instance_id, created_at) select $7, $8, $9, $10, id, $6 from inst
        )
        select * from inst`,
      [row.id, row.name, row.environment_type, row.publishable_key, row.is_default, row.created_at, key.id, key.key_hash, key.hint, key.sealed_key])
      return rows[0]!
    },

    /** The instance a key selects, unless the key has stopped working by `now` (wall clock). */
    async findByKeyHash(q: Queryable, keyHash: string, now: number): Promise<KeyedInstanceRow | null> {
      const rows = await q.query<KeyedInstanceRow>(`
        select i.*, k.expires_at as key_expires_at, k.id as key_id, k.hint as key_hint from instances i join secret_keys k on k.instance_id = i.id
        where k.key_hash = $1 and (k.expires_at is null or k.expires_at > $2)`, [keyHash, now])
      return rows[0] ?? null
    },

    /** The instance's keys that still work at `now`, oldest first. */
    async listKeys(q: Queryable, instanceId: string, now: number): Promise<SecretKeyRow[]> {
      return q.query<SecretKeyRow>(`
        select * from secret_keys where instance_id = $1 and (expires_at is null or expires_at > $2)
        order by created_at, id`, [instanceId, now])
    },

    async findKey(q: Queryable, instanceId: string, keyId: string, now: number): Promise<SecretKeyRow | null> {
      const rows = await q.query<SecretKeyRow>(`
        select * from secret_keys where instance_id = $1 and id = $2 and (expires_at is null or expires_at > $3)`, [instanceId, keyId, now])
      return rows[0] ?? null
    },

    /** The instance, read under its row lock, so that changes to its settings and keys take turns. */
    async lock(q: Queryable, instanceId: string): Promise<InstanceRow | null> {
      const rows = await q.query<InstanceRow>('select * from instances where id = $1 for update', [instanceId])
      return rows[0] ?? null
    },

    async insertKey(q: Queryable, instanceId: string, key: NewSecretKey, now: number): Promise<SecretKeyRow> {
      const rows = await q.query<SecretKeyRow>(`
        insert into secret_keys (id, key_hash, hint, sealed_key, instance_id, created_at)
        values ($1, $2, $3, $4, $5, $6) returning *`, [key.id, key.key_hash, key.hint, key.sealed_key, instanceId, now])
      return rows[0]!
    },

    /**
     * Every other key of the instance stops working at `expiresAt` (or sooner, if it was to
     * already); keys that have stopped are dropped, as nothing can use them.
     */
    async expireOtherKeys(q: Queryable, instanceId: string, keepId: string, expiresAt: number, now: number): Promise<void> {
      await q.query(`
        update secret_keys set expires_at = least(coalesce(expires_at, $3), $3)
        where instance_id = $1 and id <> $2`, [instanceId, keepId, expiresAt])
      await q.query('delete from secret_keys where instance_id = $1 and expires_at <= $2', [instanceId, now])
    },

    async deleteKey(q: Queryable, instanceId: string, keyId: string): Promise<boolean> {
      return (await q.query('delete from secret_keys where instance_id = $1 and id = $2 returning id', [instanceId, keyId])).length > 0
    },

    async findKeyIdByHash(q: Queryable, instanceId: string, keyHash: string): Promise<string | null> {
      const rows = await q.query<{ id: string }>('select id from secret_keys where instance_id = $1 and key_hash = $2', [instanceId, keyHash])
      return rows[0]?.id ?? null
    },

    /**
     * Makes `key` the instance's only key, working until changed and sealed as given, keeping
     * the row (its id and creation time) when the instance had it already. A row of this key
     * that another instance holds has stopped working (callers check), and gives way.
     */
    async pinKey(q: Queryable, instanceId: string, key: NewSecretKey, environmentType: string, now: number): Promise<void> {
      await q.query('delete from secret_keys where (instance_id = $1 and key_hash <> $2) or (instance_id <> $1 and key_hash = $2)', [instanceId, key.key_hash])
      await q.query(`
        insert into secret_keys (id, key_hash, hint, sealed_key, instance_id, created_at) values ($1, $2, $3, $4, $5, $6)
        on conflict (key_hash) do update set hint = excluded.hint, sealed_key = excluded.sealed_key, expires_at = null`,
      [key.id, key.key_hash, key.hint, key.sealed_key, instanceId, now])
      await q.query('update instances set environment_type = $2 where id = $1 and environment_type <> $2', [instanceId, environmentType])
    },

    async syncPublishableKeys(q: Queryable, development: string, production: string): Promise<void> {
      await q.query(`
        update instances set publishable_key = case environment_type when 'production' then $2 else $1 end
        where publishable_key <> case environment_type when 'production' then $2 else $1 end`, [development, production])
    },

    async findDefault(q: Queryable): Promise<InstanceRow | null> {
      const rows = await q.query<InstanceRow>('select * from instances where is_default order by created_at limit 1')
      return rows[0] ?? null
    },

    async findById(q: Queryable, id: string): Promise<InstanceRow | null> {
      const rows = await q.query<InstanceRow>('select * from instances where id = $1', [id])
      return rows[0] ?? null
    },

    async update(q: Queryable, id: string, changes: InstanceChanges, now: number): Promise<InstanceRow | null> {
      const rows = await q.query<InstanceRow>(`
        update instances set
          name = coalesce($2, name),
          sign_up_mode = coalesce($3, sign_up_mode),
          home_url = case when $4::boolean then $5 else home_url end,
          after_sign_up_url = case when $6::boolean then $7 else after_sign_up_url end,
          rate_limits = rate_limits || $8::jsonb,
          allowed_redirect_origins = coalesce($10::jsonb, allowed_redirect_origins),
          user_lockout = user_lockout || $11::jsonb,
          remind_before_expiry_days = coalesce($12::integer, remind_before_expiry_days),
          username_settings = username_settings || $13::jsonb,
          updated_at = $9
        where id = $1 returning *`,
      [id, changes.name ?? null, changes.sign_up_mode ?? null,
        'home_url' in changes, changes.home_url ?? null,
        'after_sign_up_url' in changes, changes.after_sign_up_url ?? null,
        JSON.stringify(changes.rate_limits ?? {}), now,
        changes.allowed_redirect_origins ? JSON.stringify(changes.allowed_redirect_origins) : null,
        JSON.stringify(changes.user_lockout ?? {}), changes.remind_before_expiry_days ?? null, JSON.stringify(changes.username_settings ?? {})])
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
