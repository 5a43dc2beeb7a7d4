import type { Db, Queryable } from '../platform/db/db.js'
import type { Clock } from '../platform/clock.js'
import { newId } from '../platform/ids.js'
import { ApiError, notFound, paramError } from '../platform/errors.js'
import type { Instance } from '../instance/instance.schemas.js'
import { MANAGE_MEMBERSHIPS } from './organizations.store.js'
import type { CatalogFilter, CatalogOrderColumn, RoleStore } from './roles.store.js'
import { recordAudit } from '../platform/audit/audit.js'
import {
  SYSTEM_ROLES, toClerkRole, type ClerkRole, type CreatePermissionBody, type CreateRoleBody, type ListRolesQuery, type PermissionRow,
  type RoleRow, type UpdatePermissionBody, type UpdateRoleBody,
} from './roles.schemas.js'

interface Deps {
  db: Db
  clock: Clock
  store: RoleStore
}

const ORDER_BY = /^([+-]?)(created_at|name|key)$/
const ROLE_KEY = /^org:[a-z0-9_]+$/
const PERMISSION_KEY = /^org:[a-z0-9_]+:[a-z0-9_]+$/
const SYSTEM_PREFIX = 'org:sys_'

const isSystemRole = (role: RoleRow) => (SYSTEM_ROLES as readonly string[]).includes(role.key)
const keyTaken = (what: string, key: string) =>
  paramError(422, 'form_identifier_exists', 'key', 'is taken', `An organization ${what} with the key ${key} already exists in this instance.`)

function checkRoleKey(raw: string): string {
  const key = raw.trim()
  if (!ROLE_KEY.test(key)) {
    throw paramError(422, 'form_param_format_invalid', 'key', 'is invalid', 'key must be `org:` followed by lower-case letters, digits and underscores, e.g. org:billing_manager.')
  }
  return key
}

function checkPermissionKey(raw: string): string {
  const key = raw.trim()
  if (!PERMISSION_KEY.test(key)) {
    throw paramError(422, 'form_param_format_invalid', 'key', 'is invalid', 'key must look like org:<feature>:<action> (lower-case letters, digits and underscores), e.g. org:billing:manage.')
  }
  if (key.startsWith(SYSTEM_PREFIX)) {
    throw paramError(422, 'form_param_format_invalid', 'key', 'is reserved', 'Keys starting with org:sys_ are reserved for system permissions.')
  }
  return key
}

function catalogFilter(instance: Instance, query: ListRolesQuery): CatalogFilter {
  const order = ORDER_BY.exec(query.order_by?.trim() || '-created_at')
  if (!order) {
    throw paramError(422, 'form_param_value_invalid', 'order_by', 'is invalid', 'order_by must be created_at, name or key, optionally prefixed with + or -.')
  }
  return {
    instanceId: instance.id,
    query: query.query?.trim() ? query.query.trim() : null,
    order: { column: order[2] as CatalogOrderColumn, descending: order[1] === '-' },
    limit: query.limit ?? 10,
    offset: query.offset ?? 0,
  }
}

export function createRoleService({ db, clock, store }: Deps) {
  /** Permission keys for the ids or keys given, in the order given, each once; 422 naming `permissions` for any unknown. */
  async function permissionKeys(q: Queryable, instanceId: string, idsOrKeys: string[]): Promise<string[]> {
    const wanted = [...new Set(idsOrKeys.map((p) => p.trim()))]
    const found = await store.findPermissions(q, instanceId, wanted)
    const byRef = new Map<string, string>()
    for (const p of found) {
      byRef.set(p.id, p.key)
      byRef.set(p.key, p.key)
    }
    const unknown = wanted.filter((ref) => !byRef.has(ref))
    if (unknown.length > 0) {
      throw paramError(422, 'form_param_value_invalid', 'permissions', 'is invalid', `These permissions do not exist: ${unknown.join(', ')}.`)
    }
    return [...new Set(wanted.map((ref) => byRef.get(ref)!))]
  }

  async function present(q: Queryable, instanceId: string, roles: RoleRow[]): Promise<ClerkRole[]> {
    const permissions = await store.permissionsByKey(q, instanceId)
    return roles.map((role) => toClerkRole(role, permissions))
  }

  /** By id, or by key (`org:admin`): a key can never be mistaken for an id. */
  async function findRole(q: Queryable, instanceId: string, idOrKey: string, lock = false): Promise<RoleRow> {
    let role = idOrKey.startsWith('org:') ? await store.findByKey(q, instanceId, idOrKey) : null
    if (role && lock) role = await store.lockById(q, instanceId, role.id)
    if (!role && !idOrKey.startsWith('org:')) role = lock ? await store.lockById(q, instanceId, idOrKey) : await store.findById(q, instanceId, idOrKey)
    if (!role) throw notFound('organization role')
    return role
  }

  /**
   * Applies a change to a role (locked in `tx`). Taking MANAGE_MEMBERSHIPS from a role is
   * refused while some organization has no other member holding it: an organization always
   * keeps one member who can manage its members.
   */
  async function change(tx: Queryable, instance: Instance, role: RoleRow, patch: { key?: string; name?: string; description?: string | null; permissions?: string[] }): Promise<RoleRow> {
    if (patch.key !== undefined && patch.key !== role.key && isSystemRole(role)) {
      throw new ApiError(403, 'not_allowed_access', 'not allowed', `The key of the system role ${role.key} cannot change.`, { param_name: 'key' })
    }
    if (patch.permissions && role.permissions.includes(MANAGE_MEMBERSHIPS) && !patch.permissions.includes(MANAGE_MEMBERSHIPS)
      && await store.isOnlyHolderRoleSomewhere(tx, instance.id, role.key, MANAGE_MEMBERSHIPS)) {
      throw new ApiError(422, 'organization_minimum_permissions_needed', 'There has to be at least one organization member with the administrator role.',
        `Some organization's only members holding ${MANAGE_MEMBERSHIPS} have the role ${role.key}; it must keep that permission.`, { param_name: 'permissions' })
    }
    const row = await store.update(tx, role, patch, clock.now(instance))
    if (!row) throw keyTaken('role', patch.key ?? role.key)
    return row
  }

  return {
    async list(instance: Instance, query: ListRolesQuery): Promise<{ data: ClerkRole[]; totalCount: number }> {
      const { rows, total } = await store.page(db, catalogFilter(instance, query))
      return { data: await present(db, instance.id, rows), totalCount: total }
    },

    async get(instance: Instance, idOrKey: string): Promise<ClerkRole> {
      return (await present(db, instance.id, [await findRole(db, instance.id, idOrKey)]))[0]!
    },

    /** A custom role `org:<name>` with existing permissions (given by id or key). */
    async create(instance: Instance, body: CreateRoleBody): Promise<ClerkRole> {
      const key = checkRoleKey(body.key)
      const now = clock.now(instance)
      return db.transaction(async (tx) => {
        const permissions = await permissionKeys(tx, instance.id, body.permissions ?? [])
        const row = await store.insert(tx, {
          id: newId('role', now), instance_id: instance.id, key, name: body.name.trim() || key, description: body.description ?? null,
          permissions, is_creator_eligible: false, created_at: now, updated_at: now,
        })
        if (!row) throw keyTaken('role', key)
        await recordAudit(tx, { instanceId: instance.id, action: 'role.created', target: { type: 'role', id: row.id, label: row.key } }, clock.now())
        return (await present(tx, instance.id, [row]))[0]!
      })
    },

    /**
     * Changes what is given (null or absent: unchanged); `permissions` replaces the role's.
     * A new key is carried over to the members and invitations holding the role.
     */
    async update(instance: Instance, idOrKey: string, body: UpdateRoleBody): Promise<ClerkRole> {
      const key = body.key != null ? checkRoleKey(body.key) : undefined
      return db.transaction(async (tx) => {
        const role = await findRole(tx, instance.id, idOrKey, true)
        const patch: Parameters<typeof change>[3] = {}
        if (key !== undefined) patch.key = key
        if (body.name != null) patch.name = body.name.trim() || role.name
        if (body.description !== undefined && body.description !== null) patch.description = body.description
        if (body.permissions != null) patch.permissions = await permissionKeys(tx, instance.id, body.permissions)
        const changed = await change(tx, instance, role, patch)
        await recordAudit(tx, { instanceId: instance.id, action: 'role.updated', target: { type: 'role', id: role.id, label: changed.key }, changedKeys: Object.keys(patch) }, clock.now())
        return (await present(tx, instance.id, [changed]))[0]!
      })
    },

    async assignPermission(instance: Instance, idOrKey: string, permission: string): Promise<ClerkRole> {
      return db.transaction(async (tx) => {
        const role = await findRole(tx, instance.id, idOrKey, true)
        const [key] = await permissionKeys(tx, instance.id, [permission]).catch(() => { throw notFound('permission') })
        if (role.permissions.includes(key!)) {
          throw new ApiError(409, 'duplicate_record', 'already assigned', `The role ${role.key} already has the permission ${key}.`)
        }
        const changed = await change(tx, instance, role, { permissions: [...role.permissions, key!] })
        await recordAudit(tx, { instanceId: instance.id, action: 'role.permission_assigned', target: { type: 'role', id: role.id, label: `${role.key} ${key!}` } }, clock.now())
        return (await present(tx, instance.id, [changed]))[0]!
      })
    },

    async unassignPermission(instance: Instance, idOrKey: string, permission: string): Promise<ClerkRole> {
      return db.transaction(async (tx) => {
        const role = await findRole(tx, instance.id, idOrKey, true)
        const [key] = await permissionKeys(tx, instance.id, [permission]).catch(() => { throw notFound('permission') })
        if (!role.permissions.includes(key!)) throw notFound('permission on this role')
        const changed = await change(tx, instance, role, { permissions: role.permissions.filter((p) => p !== key) })
        await recordAudit(tx, { instanceId: instance.id, action: 'role.permission_unassigned', target: { type: 'role', id: role.id, label: `${role.key} ${key!}` } }, clock.now())
        return (await present(tx, instance.id, [changed]))[0]!
      })
    },

    /** System roles and roles a member or pending invitation holds cannot be deleted. */
    async remove(instance: Instance, idOrKey: string): Promise<{ object: 'role'; id: string; deleted: true }> {
      return db.transaction(async (tx) => {
        const role = await findRole(tx, instance.id, idOrKey, true)
        if (isSystemRole(role)) {
          throw new ApiError(403, 'not_allowed_access', 'not allowed', `The system role ${role.key} cannot be deleted.`)
        }
        if (!await store.removeUnused(tx, instance.id, role.id)) {
          throw new ApiError(422, 'organization_role_in_use', 'role in use',
            `The role ${role.key} is held by members or pending invitations; give them another role first.`)
        }
        await recordAudit(tx, { instanceId: instance.id, action: 'role.deleted', target: { type: 'role', id: role.id, label: role.key } }, clock.now())
        return { object: 'role' as const, id: role.id, deleted: true as const }
      })
    },

    // Permissions

    async listPermissions(instance: Instance, query: ListRolesQuery): Promise<{ data: PermissionRow[]; totalCount: number }> {
      const { rows, total } = await store.pagePermissions(db, catalogFilter(instance, query))
      return { data: rows, totalCount: total }
    },

    async getPermission(instance: Instance, id: string): Promise<PermissionRow> {
      const row = await store.findPermissionById(db, instance.id, id)
      if (!row) throw notFound('permission')
      return row
    },

    /** A user permission `org:<feature>:<action>`; `org:sys_…` keys are the system's. */
    async createPermission(instance: Instance, body: CreatePermissionBody): Promise<PermissionRow> {
      const key = checkPermissionKey(body.key)
      const now = clock.now(instance)
      return db.transaction(async (tx) => {
        const row = await store.insertPermission(tx, {
          id: newId('perm', now), instance_id: instance.id, key, name: body.name.trim() || key, description: body.description ?? '',
          type: 'user', created_at: now, updated_at: now,
        })
        if (!row) throw keyTaken('permission', key)
        await recordAudit(tx, { instanceId: instance.id, action: 'permission.created', target: { type: 'permission', id: row.id, label: row.key } }, clock.now())
        return row
      })
    },

    /** System permissions cannot change; a new key is carried over to the roles holding the permission. */
    async updatePermission(instance: Instance, id: string, body: UpdatePermissionBody): Promise<PermissionRow> {
      const key = body.key !== undefined ? checkPermissionKey(body.key) : undefined
      return db.transaction(async (tx) => {
        const current = await store.findPermissionById(tx, instance.id, id)
        if (!current) throw notFound('permission')
        if (current.type === 'system') throw new ApiError(403, 'not_allowed_access', 'not allowed', `The system permission ${current.key} cannot change.`)
        const patch: { key?: string; name?: string; description?: string } = {}
        if (key !== undefined) patch.key = key
        if (body.name !== undefined) patch.name = body.name.trim() || current.name
        if (body.description !== undefined) patch.description = body.description
        const row = await store.updatePermission(tx, current, patch, clock.now(instance))
        if (!row) throw keyTaken('permission', key ?? current.key)
        await recordAudit(tx, { instanceId: instance.id, action: 'permission.updated', target: { type: 'permission', id: row.id, label: row.key }, changedKeys: Object.keys(patch) }, clock.now())
        return row
      })
    },

    /** System permissions cannot be deleted; a user permission is taken out of every role holding it. */
    async removePermission(instance: Instance, id: string): Promise<{ object: 'permission'; id: string; deleted: true }> {
      return db.transaction(async (tx) => {
        const current = await store.findPermissionById(tx, instance.id, id)
        if (!current) throw notFound('permission')
        if (current.type === 'system') throw new ApiError(403, 'not_allowed_access', 'not allowed', `The system permission ${current.key} cannot be deleted.`)
        await store.removePermission(tx, instance.id, id, clock.now(instance))
        await recordAudit(tx, { instanceId: instance.id, action: 'permission.deleted', target: { type: 'permission', id: id, label: current.key } }, clock.now())
        return { object: 'permission' as const, id, deleted: true as const }
      })
    },
  }
}

export type RoleService = ReturnType<typeof createRoleService>
