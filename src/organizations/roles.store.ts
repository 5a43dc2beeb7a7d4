import { escapeLike, isUniqueViolation, type Queryable } from '../platform/db/db.js'
import type { PermissionRow, RoleRow } from './roles.schemas.js'

export type CatalogOrderColumn = 'created_at' | 'name' | 'key'

export interface CatalogFilter {
  instanceId: string
  /** Substring of the name or key (case-insensitive), or an exact id. */
  query: string | null
  order: { column: CatalogOrderColumn; descending: boolean }
  limit: number
  offset: number
}


/** One page of `table` (roles or permissions) with the number of all matches. */
async function catalogPage<T>(q: Queryable, table: string, f: CatalogFilter): Promise<{ rows: T[]; total: number }> {
  const params: unknown[] = [f.instanceId]
  let where = 'instance_id = $1'
  if (f.query !== null) {
    params.push(`%${escapeLike(f.query.toLowerCase())}%`, f.query)
    where += ` and (id = $3 or lower(name) like $2 or key like $2)`
  }
  const dir = f.order.descending ? 'desc' : 'asc'
  const orderExpr = f.order.column === 'name' ? 'lower(name)' : f.order.column
  const rows = await q.query<T & { total_count: number }>(
    `select *, count(*) over () as total_count from ${table} where ${where}
     order by ${orderExpr} ${dir}, id ${dir} limit $${params.length + 1} offset $${params.length + 2}`,
    [...params, f.limit, f.offset])
  let total = rows.length > 0 ? Number(rows[0]!.total_count) : 0
  if (rows.length === 0 && f.offset > 0) {
    total = Number((await q.query<{ n: number }>(`select count(*)::int8 as n from ${table} where ${where}`, params))[0]?.n ?? 0)
  }
  return { rows: rows.map(({ total_count: _t, ...row }) => row as T), total }
}

export function createRoleStore() {
  return {
    async findByKey(q: Queryable, instanceId: string, key: string): Promise<RoleRow | null> {
      const rows = await q.query<RoleRow>('select * from organization_roles where instance_id = $1 and key = $2', [instanceId, key])
      return rows[0] ?? null
    },

    /** The role, held until the transaction ends against a concurrent rename or deletion. */
    async findByKeyForShare(q: Queryable, instanceId: string, key: string): Promise<RoleRow | null> {
      const rows = await q.query<RoleRow>('select * from organization_roles where instance_id = $1 and key = $2 for share', [instanceId, key])
      return rows[0] ?? null
    },

    async findById(q: Queryable, instanceId: string, id: string): Promise<RoleRow | null> {
      const rows = await q.query<RoleRow>('select * from organization_roles where instance_id = $1 and id = $2', [instanceId, id])
      return rows[0] ?? null
    },

    /** Locks the role's row until the transaction ends (changes to a role and its deletion queue up). */
    async lockById(q: Queryable, instanceId: string, id: string): Promise<RoleRow | null> {
      const rows = await q.query<RoleRow>('select * from organization_roles where instance_id = $1 and id = $2 for update', [instanceId, id])
      return rows[0] ?? null
    },

    page: (q: Queryable, f: CatalogFilter) => catalogPage<RoleRow>(q, 'organization_roles', f),

    /** Null when the key is taken in the instance. */
    async insert(q: Queryable, role: RoleRow): Promise<RoleRow | null> {
      const rows = await q.query<RoleRow>(`
        insert into organization_roles (id, instance_id, key, name, description, permissions, is_creator_eligible, created_at, updated_at)
        values ($1, $2, $3, $4, $5, $6::text[], $7, $8, $9)
        on conflict (instance_id, key) do nothing
        returning *`,
      [role.id, role.instance_id, role.key, role.name, role.description, role.permissions, role.is_creator_eligible, role.created_at, role.updated_at])
      return rows[0] ?? null
    },

    /**
     * Applies the given columns (undefined: unchanged). A new key is carried over to every
     * membership and invitation of the instance holding the old one, in the same statement.
     * Null when the new key is taken.
     */
    async update(q: Queryable, current: RoleRow, patch: { key?: string; name?: string; description?: string | null; permissions?: string[] }, now: number): Promise<RoleRow | null> {
      const next = { ...current, ...patch }
      try {
        const rows = await q.query<RoleRow>(`
          with r as (
            update organization_roles set key = $3, name = $4, description = $5, permissions = $6::text[], updated_at = $7
            where id = $1 and instance_id = $2 returning *
          ),
          members as (
            update organization_memberships set role = $3 where instance_id = $2 and role = $8 and $3 <> $8 and exists (select 1 from r)
          ),
          invited as (
            update organization_invitations set role = $3 where instance_id = $2 and role = $8 and $3 <> $8 and exists (select 1 from r)
          )
          select * from r`,
        [current.id, current.instance_id, next.key, next.name, next.description, next.permissions, now, current.key])
        return rows[0] ?? null
      } catch (err) {
        if (isUniqueViolation(err)) return null
        throw err
      }
    },

    /**
     * Whether some organization's members holding `permission` all hold it through this role:
     * taking the permission from the role would leave that organization without one.
     */
    async isOnlyHolderRoleSomewhere(q: Queryable, instanceId: string, key: string, permission: string): Promise<boolean> {
      const rows = await q.query(`
        select 1 from organization_memberships m
        where m.instance_id = $1 and m.role = $2
          and not exists (
            select 1 from organization_memberships other
            join organization_roles r on r.instance_id = other.instance_id and r.key = other.role
            where other.organization_id = m.organization_id and other.role <> $2 and $3 = any(r.permissions))
        limit 1`,
      [instanceId, key, permission])
      return rows.length > 0
    },

    /** Whether a membership or a pending invitation of the instance holds the role. */
    async isInUse(q: Queryable, instanceId: string, key: string): Promise<boolean> {
      const rows = await q.query(`
        select 1 where exists (select 1 from organization_memberships where instance_id = $1 and role = $2)
          or exists (select 1 from organization_invitations where instance_id = $1 and role = $2 and status = 'pending')`,
      [instanceId, key])
      return rows.length > 0
    },

    /**
     * Deletes the role unless a membership or a pending invitation holds it, checked in the
     * same statement; null when it was not deleted.
     */
    async removeUnused(q: Queryable, instanceId: string, id: string): Promise<RoleRow | null> {
      const rows = await q.query<RoleRow>(`
        delete from organization_roles r where r.instance_id = $1 and r.id = $2
          and not exists (select 1 from organization_memberships m where m.instance_id = $1 and m.role = r.key)
          and not exists (select 1 from organization_invitations i where i.instance_id = $1 and i.role = r.key and i.status = 'pending')
        returning *`,
      [instanceId, id])
      return rows[0] ?? null
    },

    // Permissions

    /** Every permission of the instance by key: roles are shown with theirs. */
    async permissionsByKey(q: Queryable, instanceId: string): Promise<Map<string, PermissionRow>> {
      const rows = await q.query<PermissionRow>('select * from organization_permissions where instance_id = $1', [instanceId])
      return new Map(rows.map((p) => [p.key, p]))
    },

    /** The permissions named by id or key, whichever each one is. */
    async findPermissions(q: Queryable, instanceId: string, idsOrKeys: string[]): Promise<PermissionRow[]> {
      if (idsOrKeys.length === 0) return []
      return q.query<PermissionRow>(
        'select * from organization_permissions where instance_id = $1 and (id = any($2::text[]) or key = any($2::text[]))',
        [instanceId, idsOrKeys])
    },

    async findPermissionById(q: Queryable, instanceId: string, id: string): Promise<PermissionRow | null> {
      const rows = await q.query<PermissionRow>('select * from organization_permissions where instance_id = $1 and id = $2', [instanceId, id])
      return rows[0] ?? null
    },

    pagePermissions: (q: Queryable, f: CatalogFilter) => catalogPage<PermissionRow>(q, 'organization_permissions', f),

    /** Null when the key is taken in the instance. */
    async insertPermission(q: Queryable, p: PermissionRow): Promise<PermissionRow | null> {
      const rows = await q.query<PermissionRow>(`
        insert into organization_permissions (id, instance_id, key, name, description, type, created_at, updated_at)
        values ($1, $2, $3, $4, $5, $6, $7, $8)
        on conflict (instance_id, key) do nothing
        returning *`,
      [p.id, p.instance_id, p.key, p.name, p.description, p.type, p.created_at, p.updated_at])
      return rows[0] ?? null
    },

    /**
     * Changes a user permission; a new key replaces the old one in every role holding it, in
     * the same statement. Null when the new key is taken.
     */
    async updatePermission(q: Queryable, current: PermissionRow, patch: { key?: string; name?: string; description?: string }, now: number): Promise<PermissionRow | null> {
      const next = { ...current, ...patch }
      try {
        const rows = await q.query<PermissionRow>(`
          with p as (
            update organization_permissions set key = $3, name = $4, description = $5, updated_at = $6
            where id = $1 and instance_id = $2 and type = 'user' returning *
          ),
          roles as (
            update organization_roles set permissions = array_replace(permissions, $7, $3), updated_at = $6
            where instance_id = $2 and $7 = any(permissions) and $3 <> $7 and exists (select 1 from p)
          )
          select * from p`,
        [current.id, current.instance_id, next.key, next.name, next.description, now, current.key])
        return rows[0] ?? null
      } catch (err) {
        if (isUniqueViolation(err)) return null
        throw err
      }
    },

    /** Deletes a user permission and takes it out of every role holding it. */
    async removePermission(q: Queryable, instanceId: string, id: string, now: number): Promise<PermissionRow | null> {
      const rows = await q.query<PermissionRow>(`
        with p as (delete from organization_permissions where instance_id = $1 and id = $2 and type = 'user' returning *),
        roles as (
          update organization_roles r set permissions = array_remove(r.permissions, p.key), updated_at = $3
          from p where r.instance_id = $1 and p.key = any(r.permissions)
        )
        select * from p`,
      [instanceId, id, now])
      return rows[0] ?? null
    },
  }
}

export type RoleStore = ReturnType<typeof createRoleStore>
