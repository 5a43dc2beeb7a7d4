import type { Queryable } from '../platform/db/db.js'

export interface NewNonce { nonceHash: string; instanceId: string; directives: string[]; now: number; expiresAt: number }

/** Nonces of the handshake's nonce carrier (migration 015); only their hashes are kept. */
export function createHandshakeStore() {
  return {
    /**
     * Several nonces in one statement: handshakes under load share one insert and one commit.
     * The commit is visible at once but not waited onto disk (`synchronous_commit` off for this
     * statement's own transaction): a nonce lives two minutes, and one lost with the database
     * server only sends its browser through the handshake again, while waiting on each flush
     * put the disk's slowest fsync into every redirect's latency.
     */
    async insert(q: Queryable, nonces: readonly NewNonce[]): Promise<void> {
      await q.query(`
        with async_commit as (select set_config('synchronous_commit', 'off', true))
        insert into handshake_nonces (nonce_hash, instance_id, directives, created_at, expires_at)
        select n.* from unnest($1::text[], $2::text[], $3::jsonb[], $4::bigint[], $5::bigint[]) as n, async_commit`, [
        nonces.map((n) => n.nonceHash), nonces.map((n) => n.instanceId), nonces.map((n) => JSON.stringify(n.directives)),
        nonces.map((n) => n.now), nonces.map((n) => n.expiresAt),
      ])
    },

    /**
     * The directives of an unexpired nonce of the instance, if it is unused or was first used
     * no longer than `reloadMs` ago; marks its first use. One statement, so two processes
     * answering the same nonce agree on when it was first used.
     */
    async use(q: Queryable, instanceId: string, nonceHash: string, now: number, reloadMs: number): Promise<string[] | null> {
      const rows = await q.query<{ directives: string[] | string }>(`
        update handshake_nonces set first_used_at = coalesce(first_used_at, $3)
        where nonce_hash = $1 and instance_id = $2 and expires_at > $3 and (first_used_at is null or first_used_at > $3 - $4)
        returning directives`, [nonceHash, instanceId, now, reloadMs])
      const directives = rows[0]?.directives
      if (directives === undefined) return null
      return typeof directives === 'string' ? JSON.parse(directives) as string[] : directives
    },

    /** Drops nonces past their window, a bounded batch at a time. */
    async sweep(q: Queryable, now: number): Promise<void> {
      await q.query(`
        delete from handshake_nonces where nonce_hash in (
          select nonce_hash from handshake_nonces where expires_at <= $1 limit 500)`, [now])
    },
  }
}

export type HandshakeStore = ReturnType<typeof createHandshakeStore>
