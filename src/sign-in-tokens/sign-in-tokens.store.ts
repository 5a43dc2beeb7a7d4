import type { Queryable } from '../platform/db/db.js'

export type SignInTokenStatus = 'pending' | 'accepted' | 'revoked'

export interface SignInTokenRow {
  id: string
  instance_id: string
  user_id: string
  status: SignInTokenStatus
  expires_at: number
  created_at: number
  updated_at: number
}

const columns = 'id, instance_id, user_id, status, expires_at, created_at, updated_at'

export const signInTokenStore = {
  async insert(q: Queryable, row: SignInTokenRow & { token_hash: string }): Promise<SignInTokenRow> {
    const rows = await q.query<SignInTokenRow>(
      `insert into sign_in_tokens (id, instance_id, user_id, token_hash, status, expires_at, created_at, updated_at)
       values ($1, $2, $3, $4, $5, $6, $7, $8) returning ${columns}`,
      [row.id, row.instance_id, row.user_id, row.token_hash, row.status, row.expires_at, row.created_at, row.updated_at])
    return rows[0]!
  },

  /** Revokes a pending token of the instance; null if the instance has no such token. */
  async revoke(q: Queryable, instanceId: string, id: string, now: number): Promise<{ row: SignInTokenRow; changed: boolean } | null> {
    const rows = await q.query<SignInTokenRow>(
      `update sign_in_tokens set status = 'revoked', updated_at = $3
       where instance_id = $1 and id = $2 and status = 'pending' returning ${columns}`, [instanceId, id, now])
    if (rows[0]) return { row: rows[0], changed: true }
    const found = await q.query<SignInTokenRow>(`select ${columns} from sign_in_tokens where instance_id = $1 and id = $2`, [instanceId, id])
    return found[0] ? { row: found[0], changed: false } : null
  },

  async findByHash(q: Queryable, tokenHash: string): Promise<SignInTokenRow | null> {
    const rows = await q.query<SignInTokenRow>(`select ${columns} from sign_in_tokens where token_hash = $1`, [tokenHash])
    return rows[0] ?? null
  },

  /**
   * Marks a token used. The status check is in the update itself: of two concurrent uses, the
   * second waits for the first's row lock and then finds the token no longer pending.
   */
  async accept(q: Queryable, id: string, now: number): Promise<boolean> {
    const rows = await q.query(
      `update sign_in_tokens set status = 'accepted', updated_at = $2 where id = $1 and status = 'pending' and expires_at > $2 returning id`, [id, now])
    return rows.length === 1
  },
}
