import { escapeLike, fewMatchesPage, hasTrigramKeys, isUniqueViolation, queryFor, trigramContains, type Queryable } from '../platform/db/db.js'
import type { OrganizationRow } from './organizations.schemas.js'

/** The permission whose holders keep an organization manageable (see memberships.service.ts). */
export const MANAGE_MEMBERSHIPS = 'org:sys_memberships:manage'

export type OrganizationOrderColumn = 'created_at' | 'name' | 'members_count'

export interface OrganizationFilter {
  instanceId: string
  /** Substring of the name or slug (case-insensitive), or an exact id. */
  query: string | null
  /** Organizations one of these users belongs to. */
  memberIds: string[] | null
  /** Organizations none of these users belongs to. */
  excludeMemberIds: string[]
  includeIds: string[] | null
  excludeIds: string[]
}

export interface OrganizationCounts {
  members_count: number
  pending_invitations_count: number
  /** No member holds MANAGE_MEMBERSHIPS (only possible in data from outside Foyer's rules). */
  missing_manager: boolean
}

export type OrganizationListRow = OrganizationRow & Partial<OrganizationCounts>

const MEMBERS_COUNT = '(select count(*) from organization_memberships m where m.organization_id = o.id)'
// A pending invitation past its expiry holds no seat.
const pendingCount = (nowParam: string) =>
  `(select count(*) from organization_invitations i where i.organization_id = o.id and i.status = 'pending' and i.expires_at > ${nowParam})`
const MISSING_MANAGER = `not exists (
  select 1 from organization_memberships m join organization_roles r on r.instance_id = m.instance_id and r.key = m.role
  where m.organization_id = o.id and '${MANAGE_MEMBERSHIPS}' = any(r.permissions))`
const countColumns = (nowParam: string) =>
  `${MEMBERS_COUNT}::int8 as members_count, ${pendingCount(nowParam)}::int8 as pending_invitations_count, ${MISSING_MANAGER} as missing_manager`

export function createOrganizationStore() {
  return {
    /** Null when the slug is taken in the instance (the unique index decides, whatever races). */
    async insert(q: Queryable, org: OrganizationRow): Promise<OrganizationRow | null> {
      const rows = await q.query<OrganizationRow>(`
        insert into organizations (id, instance_id, name, slug, max_allowed_memberships, admin_delete_enabled,
                                   public_metadata, private_metadata, created_by, created_at, updated_at)
        values ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9, $10, $11)
        on conflict (instance_id, slug) do nothing
        returning *`,
      [org.id, org.instance_id, org.name, org.slug, org.max_allowed_memberships, org.admin_delete_enabled,
        JSON.stringify(org.public_metadata), JSON.stringify(org.private_metadata), org.created_by, org.created_at, org.updated_at])
      return rows[0] ?? null
    },

    async findById(q: Queryable, instanceId: string, id: string): Promise<OrganizationRow | null> {
      const rows = await q.query<OrganizationRow>('select * from organizations where id = $1 and instance_id = $2', [id, instanceId])
      return rows[0] ?? null
    },

    /** By id, else by slug: Clerk's GET takes either in the same place. */
    async findByIdOrSlug(q: Queryable, instanceId: string, idOrSlug: string): Promise<OrganizationRow | null> {
      const rows = await q.query<OrganizationRow>(
        `select * from organizations where instance_id = $1 and (id = $2 or slug = $2) order by (id = $2) desc limit 1`,
        [instanceId, idOrSlug])
      return rows[0] ?? null
    },

    async findBySlug(q: Queryable, instanceId: string, slug: string): Promise<OrganizationRow | null> {
      const rows = await q.query<OrganizationRow>('select * from organizations where instance_id = $1 and slug = $2', [instanceId, slug])
      return rows[0] ?? null
    },

    /**
     * Locks the organization's row until the transaction ends, and returns it (null: no such
     * organization). Every change to who is, or may become, a member (memberships, roles held,
     * invitations) takes it first, so that limits and "one manager at least" are checked
     * against a state no one else is changing.
     */
    async lockById(q: Queryable, instanceId: string, id: string): Promise<OrganizationRow | null> {
      const rows = await q.query<OrganizationRow>('select * from organizations where id = $1 and instance_id = $2 for update', [id, instanceId])
      return rows[0] ?? null
    },

    async counts(q: Queryable, id: string, now: number): Promise<OrganizationCounts> {
      const rows = await q.query<OrganizationCounts>(`select ${countColumns('$2')} from organizations o where o.id = $1`, [id, now])
      return rows[0] ?? { members_count: 0, pending_invitations_count: 0, missing_manager: true }
    },

    /**
     * Applies the given columns (null or absent: unchanged). Null when the new slug is taken:
     * the unique index answers, so a race has one winner.
     */
    async update(q: Queryable, instanceId: string, id: string, patch: OrganizationPatch, now: number): Promise<OrganizationRow | null> {
      const sets: string[] = []
      const params: unknown[] = [id, instanceId, now]
      const set = (column: string, value: unknown, cast = '') => {
        params.push(value)
        sets.push(`${column} = $${params.length}${cast}`)
      }
      if (patch.name != null) set('name', patch.name)
      if (patch.slug != null) set('slug', patch.slug)
      if (patch.max_allowed_memberships != null) set('max_allowed_memberships', patch.max_allowed_memberships)
      if (patch.admin_delete_enabled != null) set('admin_delete_enabled', patch.admin_delete_enabled)
      if (patch.created_at != null) set('created_at', patch.created_at)
      if (patch.public_metadata != null) set('public_metadata', JSON.stringify(patch.public_metadata), '::jsonb')
      if (patch.private_metadata != null) set('private_metadata', JSON.stringify(patch.private_metadata), '::jsonb')
      try {
        const rows = await q.query<OrganizationRow>(
          `update organizations set ${[...sets, 'updated_at = $3'].join(', ')} where id = $1 and instance_id = $2 returning *`, params)
        return rows[0] ?? null
      } catch (err) {
        if (isUniqueViolation(err)) return null
        throw err
      }
    },

    /** Deletes the organization; its memberships, invitations, domains and suggestions go with it (foreign keys). */
    async remove(q: Queryable, instanceId: string, id: string): Promise<OrganizationRow | null> {
      const rows = await q.query<OrganizationRow>('delete from organizations where id = $1 and instance_id = $2 returning *', [id, instanceId])
      return rows[0] ?? null
    },

    /**
     * One page and the number of all matches. A text found by trigram keys that matches at
     * most FEW_MATCHES organizations is found, counted and paged in one scan (fewMatchesPage).
     */
    async page(q: Queryable, f: OrganizationFilter, order: { column: OrganizationOrderColumn; descending: boolean },
      limit: number, offset: number, withCounts: boolean, now: number): Promise<{ rows: OrganizationListRow[]; total: number }> {
      const dir = order.descending ? 'desc' : 'asc'
      const orderExpr = { created_at: 'o.created_at', name: 'lower(o.name)', members_count: MEMBERS_COUNT }[order.column]
      // Only a parameter the statement uses: PostgreSQL refuses one it cannot type.
      const withNow = (params: unknown[]) => (withCounts ? `, ${countColumns(`$${params.push(now)}`)}` : '')
      if (f.query !== null && hasTrigramKeys(f.query)) {
        const found = organizationWhere(f, true)
        const counts = withNow(found.params)
        const few = await fewMatchesPage<OrganizationListRow & { total_count?: number }>(q, {
          matches: `select o.id, ${orderExpr} as sort_key from organizations o where ${found.where}`,
          order: `m.sort_key ${dir}, m.id ${dir}`,
          rows: `select o.*${counts} from organizations o where o.id = m.id`,
          params: found.params, cachedPlan: true, limit, offset,
        })
        if (few) return { rows: few.rows.map(({ total_count: _t, ...row }) => row), total: few.total }
      }
      const { where, params } = organizationWhere(f)
      const counts = withNow(params)
      // A text search counts in a subquery of its own rather than by a window over the page's
      // scan (which keeps every matching row), and is planned for its text (see queryCustomPlan).
      const run = queryFor(q, f.query !== null)
      const totalExpr = f.query !== null ? `(select count(*) from organizations o where ${where})::int8` : 'count(*) over ()'
      const rows = await run<OrganizationListRow & { total_count: number }>(
        `select o.*, ${totalExpr} as total_count${counts} from organizations o where ${where}
         order by ${orderExpr} ${dir}, o.id ${dir} limit $${params.length + 1} offset $${params.length + 2}`,
        [...params, limit, offset])
      // An empty page (an offset past the end) carries no count of its own.
      const total = rows.length > 0 ? Number(rows[0]!.total_count) : offset === 0 ? 0 : await this.count(q, f)
      return { rows: rows.map(({ total_count: _t, ...row }) => row), total }
    },

    async count(q: Queryable, f: OrganizationFilter): Promise<number> {
      const { where, params } = organizationWhere(f)
      const rows = await queryFor(q, f.query !== null)<{ n: number }>(`select count(*)::int8 as n from organizations o where ${where}`, params)
      return Number(rows[0]?.n ?? 0)
    },
  }
}

export interface OrganizationPatch {
  name?: string | null
  slug?: string | null
  max_allowed_memberships?: number | null
  admin_delete_enabled?: boolean | null
  created_at?: number | null
  public_metadata?: Record<string, unknown> | null
  private_metadata?: Record<string, unknown> | null
}

/** With `byTrigrams`, the text is matched as trigramContains writes it (see listWhere of invitations). */
function organizationWhere(f: OrganizationFilter, byTrigrams = false): { where: string; params: unknown[] } {
  const params: unknown[] = [f.instanceId]
  const param = (value: unknown) => {
    params.push(value)
    return `$${params.length}`
  }
  const clauses = ['o.instance_id = $1']
  if (f.query !== null && byTrigrams) {
    const text = f.query.toLowerCase()
    clauses.push(`(o.id = ${param(f.query)} or ${trigramContains('lower(o.name)', text, params)} or ${trigramContains('o.slug', text, params)})`)
  } else if (f.query !== null) {
    const like = param(`%${escapeLike(f.query.toLowerCase())}%`)
    clauses.push(`(o.id = ${param(f.query)} or lower(o.name) like ${like} or o.slug like ${like})`)
  }
  const membersIn = (ids: string) => `exists (select 1 from organization_memberships m where m.organization_id = o.id and m.user_id = any(${ids}::text[]))`
  if (f.memberIds) clauses.push(membersIn(param(f.memberIds)))
  if (f.excludeMemberIds.length > 0) clauses.push(`not ${membersIn(param(f.excludeMemberIds))}`)
  if (f.includeIds) clauses.push(`o.id = any(${param(f.includeIds)}::text[])`)
  if (f.excludeIds.length > 0) clauses.push(`o.id <> all(${param(f.excludeIds)}::text[])`)
  return { where: clauses.join(' and '), params }
}

export type OrganizationStore = ReturnType<typeof createOrganizationStore>
