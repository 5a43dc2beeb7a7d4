import { Type, type Static } from 'typebox'

const nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()])

export interface RoleRow {
  id: string
  instance_id: string
  /** `org:admin`, `org:member`, or the application's `org:<name>` */
  key: string
  name: string
  description: string | null
  /** Permission keys, in the order they were granted. */
  permissions: string[]
  is_creator_eligible: boolean
  created_at: number
  updated_at: number
}

export interface PermissionRow {
  id: string
  instance_id: string
  /** `org:<feature>:<action>` */
  key: string
  name: string
  description: string
  /** 'system' (`org:sys_…`, Foyer's own rules) | 'user' */
  type: 'system' | 'user'
  created_at: number
  updated_at: number
}

/** The roles every instance has from its creation on (migration 007); they cannot be deleted. */
export const SYSTEM_ROLES = ['org:admin', 'org:member'] as const
/** The role of whoever creates an organization, and the only one a creator may get. */
export const CREATOR_ROLE = 'org:admin'

const pageFields = {
  query: Type.Optional(Type.String({ maxLength: 256, description: 'Case-insensitive substring of the name or key, or an exact id.' })),
  order_by: Type.Optional(Type.String({ default: '-created_at', description: '`created_at`, `name` or `key`, with an optional `+`/`-` prefix.' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 10 })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_147_483_647, default: 0 })),
}
export const ListRolesQuery = Type.Object(pageFields, { additionalProperties: false })
export type ListRolesQuery = Static<typeof ListRolesQuery>
export const ListPermissionsQuery = Type.Object(pageFields, { additionalProperties: false })
export type ListPermissionsQuery = Static<typeof ListPermissionsQuery>

const permissionList = Type.Array(Type.String(), {
  maxItems: 100,
  description: 'Permissions, each given by id (`perm_…`) or key (`org:<feature>:<action>`); they must exist.',
})

export const CreateRoleBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 256 }),
  key: Type.String({ minLength: 1, maxLength: 128, description: '`org:` then lower-case letters, digits and underscores.' }),
  description: Type.Optional(nullable(Type.String({ maxLength: 1000 }))),
  permissions: Type.Optional(nullable(permissionList)),
  include_in_initial_role_set: Type.Optional(nullable(Type.Boolean({ description: 'Accepted for compatibility; Foyer has one role set.' }))),
}, { additionalProperties: false })
export type CreateRoleBody = Static<typeof CreateRoleBody>

export const UpdateRoleBody = Type.Object({
  name: Type.Optional(nullable(Type.String({ minLength: 1, maxLength: 256 }))),
  key: Type.Optional(nullable(Type.String({ minLength: 1, maxLength: 128, description: 'Only while no member or invitation holds the role; system roles keep theirs.' }))),
  description: Type.Optional(nullable(Type.String({ maxLength: 1000 }))),
  permissions: Type.Optional(nullable(Type.Array(Type.String(), { maxItems: 100, description: 'Replaces the role\'s permissions (ids or keys).' }))),
}, { additionalProperties: false })
export type UpdateRoleBody = Static<typeof UpdateRoleBody>

export const RoleIdParams = Type.Object({ organization_role_id: Type.String() })
export const RolePermissionParams = Type.Object({ organization_role_id: Type.String(), permission_id: Type.String() })
export const PermissionIdParams = Type.Object({ permission_id: Type.String() })

export const CreatePermissionBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 256 }),
  key: Type.String({ minLength: 1, maxLength: 256, description: '`org:<feature>:<action>`, lower-case letters, digits and underscores; not `org:sys_…`.' }),
  description: Type.Optional(Type.String({ maxLength: 1000 })),
}, { additionalProperties: false })
export type CreatePermissionBody = Static<typeof CreatePermissionBody>

export const UpdatePermissionBody = Type.Object({
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  key: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  description: Type.Optional(Type.String({ maxLength: 1000 })),
}, { additionalProperties: false })
export type UpdatePermissionBody = Static<typeof UpdatePermissionBody>

export const ClerkPermission = Type.Object({
  object: Type.Literal('permission'),
  id: Type.String(),
  name: Type.String(),
  key: Type.String(),
  description: Type.String(),
  type: Type.String({ description: '`system` or `user`.' }),
  created_at: Type.Integer(),
  updated_at: Type.Integer(),
}, { additionalProperties: false })
export type ClerkPermission = Static<typeof ClerkPermission>

export const ClerkRole = Type.Object({
  object: Type.Literal('role'),
  id: Type.String(),
  name: Type.String(),
  key: Type.String(),
  description: nullable(Type.String()),
  is_creator_eligible: Type.Boolean(),
  permissions: Type.Array(ClerkPermission),
  created_at: Type.Integer(),
  updated_at: Type.Integer(),
}, { additionalProperties: false })
export type ClerkRole = Static<typeof ClerkRole>

export const ClerkRoles = Type.Object({ data: Type.Array(ClerkRole), total_count: Type.Integer() }, { additionalProperties: false })
export const ClerkPermissions = Type.Object({ data: Type.Array(ClerkPermission), total_count: Type.Integer() }, { additionalProperties: false })

export function toClerkPermission(row: PermissionRow): ClerkPermission {
  return {
    object: 'permission',
    id: row.id,
    name: row.name,
    key: row.key,
    description: row.description,
    type: row.type,
    created_at: row.created_at,
    updated_at: row.updated_at,
  }
}

/** Clerk's Role, its permissions as Permission objects in the order granted (`permissions` maps key → row). */
export function toClerkRole(row: RoleRow, permissions: ReadonlyMap<string, PermissionRow>): ClerkRole {
  return {
    object: 'role',
    id: row.id,
    name: row.name,
    key: row.key,
    description: row.description,
    is_creator_eligible: row.is_creator_eligible,
    permissions: row.permissions.flatMap((key) => {
      const permission = permissions.get(key)
      return permission ? [toClerkPermission(permission)] : []
    }),
    created_at: row.created_at,
    updated_at: row.updated_at,
  }
}
