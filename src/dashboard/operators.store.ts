import type { Queryable } from '../platform/db/db.js'
import type { InstanceRow } from '../instance/instance.schemas.js'

export type OperatorRole = 'owner' | 'admin' | 'viewer'

/** An operator's role and reach, read on every dashboard request. */
export interface OperatorAccessRow {
  role: OperatorRole
  all_instances: boolean
  instance_ids: string[]
}

export interface TeamOperatorRow extends OperatorAccessRow {
  id: string
  email_address: string
  created_at: number
}

export interface OperatorInvitationRow {
  id: string
  email_address: string
  role: OperatorRole
  all_instances: boolean
  token_nonce: string
  token_hash: string
  status: 'pending' | 'accepted' | 'revoked'
  invited_by: string | null
  created_at: number
  updated_at: number
  expires_at: number
}

export type OperatorInvitationListRow = OperatorInvitationRow & { instance_ids: string[]; invited_by_email: string | null }

// Any constant works; every Foyer process must use the same one. Held by every change to an
// operator's role or existence, so that the count of owners read inside is still true at commit.
const OPERATORS_LOCK = 7_210_514_030

// Arrays, not JSON: both engines answer text[] as a JavaScript array.
const INSTANCE_IDS = (table: string, column: string, id: string) =>
  `array(select instance_id from ${table} where ${column} = ${id} order by instance_id) as instance_ids`

export function createOperatorStore() {
  return {
    async lockOperators(q: Queryable): Promise<void> {
      await q.query('select pg_advisory_xact_lock($1)', [OPERATORS_LOCK])
    },

    async findAccess(q: Queryable, operatorId: string): Promise<OperatorAccessRow | null> {
      const rows = await q.query<OperatorAccessRow>(
        `select o.role, o.all_instances, ${INSTANCE_IDS('operator_instances', 'operator_id', 'o.id')} from operators o where o.id = $1`, [operatorId])
      return rows[0] ?? null
    },

    async listOperators(q: Queryable): Promise<TeamOperatorRow[]> {
      return q.query<TeamOperatorRow>(`
        select o.id, o.email_address, o.role, o.all_instances, o.created_at, ${INSTANCE_IDS('operator_instances', 'operator_id', 'o.id')}
        from operators o order by o.created_at, o.id`)
    },

    async findOperator(q: Queryable, id: string): Promise<TeamOperatorRow | null> {
      const rows = await q.query<TeamOperatorRow>(`
        select o.id, o.email_address, o.role, o.all_instances, o.created_at, ${INSTANCE_IDS('operator_instances', 'operator_id', 'o.id')}
        from operators o where o.id = $1`, [id])
      return rows[0] ?? null
    },

    async findOperatorIdByEmail(q: Queryable, emailAddress: string): Promise<string | null> {
      const rows = await q.query<{ id: string }>('select id from operators where email_address = $1', [emailAddress])
      return rows[0]?.id ?? null
    },

    async countOwners(q: Queryable): Promise<number> {
      const rows = await q.query<{ n: number }>("select count(*)::int as n from operators where role = 'owner'")
      return Number(rows[0]!.n)
    },

    /** Sets the role and reach; the instances are replaced whole (none when `allInstances`). */
    async updateOperatorAccess(q: Queryable, id: string, access: { role: OperatorRole; allInstances: boolean; instanceIds: string[] }, now: number): Promise<boolean> {
      const rows = await q.query('update operators set role = $2, all_instances = $3, updated_at = $4 where id = $1 returning id', [id, access.role, access.allInstances, now])
      if (rows.length === 0) return false
      await q.query('delete from operator_instances where operator_id = $1', [id])
      if (!access.allInstances) await q.query('insert into operator_instances (operator_id, instance_id) select $1, unnest($2::text[])', [id, access.instanceIds])
      return true
    },

    /** Deletes the operator; their sessions go with them (on delete cascade). */
    async deleteOperator(q: Queryable, id: string): Promise<boolean> {
      const rows = await q.query('delete from operators where id = $1 returning id', [id])
      return rows.length > 0
    },

    async insertOperator(q: Queryable, row: { id: string; email_address: string; password_hash: string; role: OperatorRole; all_instances: boolean; instance_ids: string[]; now: number }): Promise<void> {
      await q.query('insert into operators (id, email_address, password_hash, role, all_instances, created_at, updated_at) values ($1, $2, $3, $4, $5, $6, $6)',
        [row.id, row.email_address, row.password_hash, row.role, row.all_instances, row.now])
      if (!row.all_instances) await q.query('insert into operator_instances (operator_id, instance_id) select $1, unnest($2::text[])', [row.id, row.instance_ids])
    },

    /** Of the given ids, those that are instances. */
    async existingInstanceIds(q: Queryable, ids: string[]): Promise<string[]> {
      const rows = await q.query<{ id: string }>('select id from instances where id = any($1::text[])', [ids])
      return rows.map((r) => r.id)
    },

    /** The instance whose outbox carries operators' emails: the default one, else the oldest. */
    async findCarrierInstance(q: Queryable): Promise<InstanceRow | null> {
      const rows = await q.query<InstanceRow>('select * from instances order by is_default desc, created_at, id limit 1')
      return rows[0] ?? null
    },

    async insertInvitation(q: Queryable, row: Omit<OperatorInvitationRow, 'status' | 'updated_at'>, instanceIds: string[]): Promise<OperatorInvitationRow> {
      const rows = await q.query<OperatorInvitationRow>(`
        insert into operator_invitations (id, email_address, role, all_instances, token_nonce, token_hash, invited_by, created_at, updated_at, expires_at)
        values ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9) returning *`,
      [row.id, row.email_address, row.role, row.all_instances, row.token_nonce, row.token_hash, row.invited_by, row.created_at, row.expires_at])
      if (!row.all_instances) await q.query('insert into operator_invitation_instances (invitation_id, instance_id) select $1, unnest($2::text[])', [row.id, instanceIds])
      return rows[0]!
    },

    async findPendingInvitationByEmail(q: Queryable, emailAddress: string): Promise<OperatorInvitationRow | null> {
      const rows = await q.query<OperatorInvitationRow>("select * from operator_invitations where email_address = $1 and status = 'pending'", [emailAddress])
      return rows[0] ?? null
    },

    /** Pending invitations, expired ones included (they are shown as expired until revoked). */
    async listPendingInvitations(q: Queryable): Promise<OperatorInvitationListRow[]> {
      return q.query<OperatorInvitationListRow>(`
        select i.*, ${INSTANCE_IDS('operator_invitation_instances', 'invitation_id', 'i.id')}, o.email_address as invited_by_email
        from operator_invitations i left join operators o on o.id = i.invited_by
        where i.status = 'pending' order by i.created_at, i.id`)
    },

    async findInvitation(q: Queryable, id: string): Promise<(OperatorInvitationRow & { instance_ids: string[] }) | null> {
      const rows = await q.query<OperatorInvitationRow & { instance_ids: string[] }>(
        `select i.*, ${INSTANCE_IDS('operator_invitation_instances', 'invitation_id', 'i.id')} from operator_invitations i where i.id = $1`, [id])
      return rows[0] ?? null
    },

    async findUsableInvitationByTokenHash(q: Queryable, tokenHash: string, now: number): Promise<OperatorInvitationRow | null> {
      const rows = await q.query<OperatorInvitationRow>("select * from operator_invitations where token_hash = $1 and status = 'pending' and expires_at > $2", [tokenHash, now])
      return rows[0] ?? null
    },

    /** Guarded: exactly one caller accepts an invitation; null means unknown, used, revoked or expired. */
    async acceptInvitation(q: Queryable, tokenHash: string, now: number): Promise<(OperatorInvitationRow & { instance_ids: string[] }) | null> {
      const rows = await q.query<OperatorInvitationRow & { instance_ids: string[] }>(`
        update operator_invitations i set status = 'accepted', updated_at = $2
        where token_hash = $1 and status = 'pending' and expires_at > $2
        returning i.*, ${INSTANCE_IDS('operator_invitation_instances', 'invitation_id', 'i.id')}`, [tokenHash, now])
      return rows[0] ?? null
    },

    /** Guarded like acceptance: null when it was not pending any more. */
    async revokeInvitation(q: Queryable, id: string, now: number): Promise<OperatorInvitationRow | null> {
      const rows = await q.query<OperatorInvitationRow>("update operator_invitations set status = 'revoked', updated_at = $2 where id = $1 and status = 'pending' returning *", [id, now])
      return rows[0] ?? null
    },
  }
}

export type OperatorStore = ReturnType<typeof createOperatorStore>
