import { escapeLike, type Queryable } from '../platform/db/db.js'
import type { MembershipDetails, MembershipRow } from './memberships.schemas.js'

// Everything Clerk's OrganizationMembership shows, in one statement: the organization, the
// member's name and primary address, and the role's name and current permissions.
const DETAILS = `
  select m.*, to_jsonb(o) as organization,
    jsonb_build_object('first_name', u.first_name, 'last_name', u.last_name,
      'identifier', (select e.email_address from email_addresses e where e.id = u.primary_email_address_id)) as "user",
    r.name as role_name, coalesce(r.permissions, '{}'::text[]) as permissions
  from organization_memberships m
  join organizations o on o.id = m.organization_id
  join users u on u.id = m.user_id
  left join organization_roles r on r.instance_id = m.instance_id and r.key = m.role`

export type MembershipOrderColumn = 'created_at' | 'email_address' | 'first_name' | 'last_name'
const ORDER_EXPRESSIONS: Record<MembershipOrderColumn, string> = {
  created_at: 'm.created_at',
  email_address: `(select e.email_address from email_addresses e where e.id = u.primary_email_address_id)`,
  first_name: 'lower(u.first_name)',
  last_name: 'lower(u.last_name)',
}
export const MEMBERSHIP_ORDER_COLUMNS = Object.keys(ORDER_EXPRESSIONS) as MembershipOrderColumn[]

export interface MembershipFilter {
  instanceId: string
  /** One organization's members, or (null) one user's memberships (`userId`). */
  organizationId: string | null
  userId: string | null
  includeUserIds: string[] | null
  excludeUserIds: string[]
  /** Lower-cased, exact. */
  emailAddresses: string[] | null
  roles: string[] | null
  /** Substring of an address or the name, or an exact user id. */
  query: string | null
  emailAddressQuery: string | null
  nameQuery: string | null
  userCreatedBefore: number | null
  userCreatedAfter: number | null
}

const FULL_NAME = `lower(concat_ws(' ', u.first_name, u.last_name))`
const hasEmail = (condition: string) => `exists (select 1 from email_addresses e where e.user_id = u.id and ${condition})`

function membershipWhere(f: MembershipFilter): { where: string; params: unknown[] } {
  const params: unknown[] = [f.instanceId]
  const param = (value: unknown) => {
    params.push(value)
    return `$${params.length}`
  }
  const contains = (text: string) => param(`%${escapeLike(text.toLowerCase())}%`)
  const clauses = ['m.instance_id = $1']
  if (f.organizationId !== null) clauses.push(`m.organization_id = ${param(f.organizationId)}`)
  if (f.userId !== null) clauses.push(`m.user_id = ${param(f.userId)}`)
  if (f.includeUserIds) clauses.push(`m.user_id = any(${param(f.includeUserIds)}::text[])`)
  if (f.excludeUserIds.length > 0) clauses.push(`m.user_id <> all(${param(f.excludeUserIds)}::text[])`)
  if (f.emailAddresses) clauses.push(hasEmail(`e.email_address = any(${param(f.emailAddresses)}::text[])`))
  if (f.roles) clauses.push(`m.role = any(${param(f.roles)}::text[])`)
  if (f.query !== null) {
    const like = contains(f.query)
    clauses.push(`(m.user_id = ${param(f.query)} or ${hasEmail(`e.email_address like ${like}`)} or ${FULL_NAME} like ${like})`)
  }
  if (f.emailAddressQuery !== null) clauses.push(hasEmail(`e.email_address like ${contains(f.emailAddressQuery)}`))
  if (f.nameQuery !== null) clauses.push(`${FULL_NAME} like ${contains(f.nameQuery)}`)
  if (f.userCreatedBefore !== null) clauses.push(`u.created_at < ${param(f.userCreatedBefore)}`)
  if (f.userCreatedAfter !== null) clauses.push(`u.created_at > ${param(f.userCreatedAfter)}`)
  return { where: clauses.join(' and '), params }
}

export function createMembershipStore() {
  return {
    /** Null when the user is already a member (the unique index decides, whatever races). */
    async insert(q: Queryable, m: MembershipRow): Promise<MembershipRow | null> {
      const rows = await q.query<MembershipRow>(`
        insert into organization_memberships (id, instance_id, organization_id, user_id, role, public_metadata, private_metadata, created_at, updated_at)
        values ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8, $9)
        on conflict (organization_id, user_id) do nothing
        returning *`,
      [m.id, m.instance_id, m.organization_id, m.user_id, m.role, JSON.stringify(m.public_metadata), JSON.stringify(m.private_metadata), m.created_at, m.updated_at])
      return rows[0] ?? null
    },

    async find(q: Queryable, organizationId: string, userId: string): Promise<MembershipRow | null> {
      const rows = await q.query<MembershipRow>('select * from organization_memberships where organization_id = $1 and user_id = $2', [organizationId, userId])
      return rows[0] ?? null
    },

    async findDetails(q: Queryable, instanceId: string, organizationId: string, userId: string): Promise<MembershipDetails | null> {
      const rows = await q.query<MembershipDetails>(`${DETAILS} where m.instance_id = $1 and m.organization_id = $2 and m.user_id = $3`, [instanceId, organizationId, userId])
      return rows[0] ?? null
    },

    async countByOrganization(q: Queryable, organizationId: string): Promise<number> {
      const rows = await q.query<{ n: number }>('select count(*)::int8 as n from organization_memberships where organization_id = $1', [organizationId])
      return Number(rows[0]?.n ?? 0)
    },

    /** Seats taken: members plus pending invitations not yet past their expiry. */
    async countSeats(q: Queryable, organizationId: string, now: number): Promise<number> {
      const rows = await q.query<{ n: number }>(`
        select ((select count(*) from organization_memberships where organization_id = $1)
              + (select count(*) from organization_invitations where organization_id = $1 and status = 'pending' and expires_at > $2))::int8 as n`,
      [organizationId, now])
      return Number(rows[0]?.n ?? 0)
    },

    /**
     * The members whose role holds `permission`. Their roles' rows are share-locked until the
     * transaction ends, so a concurrent change taking the permission from a role waits (and
     * sees this transaction's outcome) instead of both deciding someone else still holds it.
     */
    async holders(q: Queryable, instanceId: string, organizationId: string, permission: string): Promise<string[]> {
      const rows = await q.query<{ user_id: string }>(`
        select m.user_id from organization_memberships m
        join organization_roles r on r.instance_id = m.instance_id and r.key = m.role
        where m.instance_id = $1 and m.organization_id = $2 and $3 = any(r.permissions)
        for share of r`,
      [instanceId, organizationId, permission])
      return rows.map((r) => r.user_id)
    },

    async hasPermission(q: Queryable, instanceId: string, organizationId: string, userId: string, permission: string): Promise<boolean> {
      const rows = await q.query(`
        select 1 from organization_memberships m
        join organization_roles r on r.instance_id = m.instance_id and r.key = m.role
        where m.instance_id = $1 and m.organization_id = $2 and m.user_id = $3 and $4 = any(r.permissions)`,
      [instanceId, organizationId, userId, permission])
      return rows.length > 0
    },

    /** Sets the given columns (undefined: unchanged); null when there is no such membership. */
    async update(q: Queryable, instanceId: string, organizationId: string, userId: string,
      patch: { role?: string; public_metadata?: Record<string, unknown>; private_metadata?: Record<string, unknown> }, now: number): Promise<MembershipRow | null> {
      const rows = await q.query<MembershipRow>(`
        update organization_memberships set role = coalesce($4, role),
          public_metadata = coalesce($5::jsonb, public_metadata), private_metadata = coalesce($6::jsonb, private_metadata), updated_at = $7
        where instance_id = $1 and organization_id = $2 and user_id = $3
        returning *`,
      [instanceId, organizationId, userId, patch.role ?? null,
        patch.public_metadata === undefined ? null : JSON.stringify(patch.public_metadata),
        patch.private_metadata === undefined ? null : JSON.stringify(patch.private_metadata), now])
      return rows[0] ?? null
    },

    async remove(q: Queryable, instanceId: string, organizationId: string, userId: string): Promise<MembershipRow | null> {
      const rows = await q.query<MembershipRow>(
        'delete from organization_memberships where instance_id = $1 and organization_id = $2 and user_id = $3 returning *',
        [instanceId, organizationId, userId])
      return rows[0] ?? null
    },

    /** One page with the number of all matches. */
    async page(q: Queryable, f: MembershipFilter, order: { column: MembershipOrderColumn; descending: boolean }, limit: number, offset: number): Promise<{ rows: MembershipDetails[]; total: number }> {
      const { where, params } = membershipWhere(f)
      const dir = order.descending ? 'desc' : 'asc'
      const nulls = order.column === 'created_at' ? '' : ' nulls last'
      const rows = await q.query<MembershipDetails & { total_count: number }>(
        `${DETAILS.replace('select m.*,', 'select m.*, count(*) over () as total_count,')} where ${where}
         order by ${ORDER_EXPRESSIONS[order.column]} ${dir}${nulls}, m.id ${dir} limit $${params.length + 1} offset $${params.length + 2}`,
        [...params, limit, offset])
      let total = rows.length > 0 ? Number(rows[0]!.total_count) : 0
      if (rows.length === 0 && offset > 0) {
        const counted = await q.query<{ n: number }>(
          `select count(*)::int8 as n from organization_memberships m join users u on u.id = m.user_id where ${where}`, params)
        total = Number(counted[0]?.n ?? 0)
      }
      return { rows: rows.map(({ total_count: _t, ...row }) => row), total }
    },
  }
}

export type MembershipStore = ReturnType<typeof createMembershipStore>
