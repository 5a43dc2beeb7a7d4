import { Type } from 'typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ClerkErrorsRef } from '../platform/openapi.js'
import type { RoleService } from './roles.service.js'
import {
  ClerkPermission, ClerkPermissions, ClerkRole, ClerkRoles, CreatePermissionBody, CreateRoleBody, ListPermissionsQuery, ListRolesQuery,
  PermissionIdParams, RoleIdParams, RolePermissionParams, UpdatePermissionBody, UpdateRoleBody, toClerkPermission,
} from './roles.schemas.js'

interface Deps {
  roles: RoleService
}

const errors = { 400: ClerkErrorsRef, 401: ClerkErrorsRef, 403: ClerkErrorsRef, 404: ClerkErrorsRef, 409: ClerkErrorsRef, 422: ClerkErrorsRef }
const Deleted = (object: string) => Type.Object({ object: Type.Literal(object), id: Type.String(), deleted: Type.Boolean() }, { additionalProperties: false })

export const roleRoutes = (deps: Deps): FastifyPluginAsyncTypebox => async (app) => {
  const tags = ['Organization Roles']

  app.get('/v1/organization_roles', {
    schema: {
      operationId: 'ListOrganizationRoles', tags, querystring: ListRolesQuery,
      description: 'Newest first unless `order_by` says otherwise; each role with its Permission objects.',
      response: { 200: ClerkRoles, ...errors },
    },
  }, async (req) => {
    const { data, totalCount } = await deps.roles.list(req.instance, req.query)
    return { data, total_count: totalCount }
  })

  app.post('/v1/organization_roles', {
    schema: {
      operationId: 'CreateOrganizationRole', tags, body: CreateRoleBody,
      description: 'A custom role `org:<name>`; `permissions` are existing permissions by id or key.',
      response: { 200: ClerkRole, ...errors },
    },
  }, async (req) => deps.roles.create(req.instance, req.body))

  app.get('/v1/organization_roles/:organization_role_id', {
    schema: { operationId: 'GetOrganizationRole', tags, params: RoleIdParams, description: 'By id or key.', response: { 200: ClerkRole, ...errors } },
  }, async (req) => deps.roles.get(req.instance, req.params.organization_role_id))

  app.patch('/v1/organization_roles/:organization_role_id', {
    schema: {
      operationId: 'UpdateOrganizationRole', tags, params: RoleIdParams, body: UpdateRoleBody,
      description: 'System roles keep their key. A new key is carried over to the members and invitations holding the role.',
      response: { 200: ClerkRole, ...errors },
    },
  }, async (req) => deps.roles.update(req.instance, req.params.organization_role_id, req.body))

  app.delete('/v1/organization_roles/:organization_role_id', {
    schema: {
      operationId: 'DeleteOrganizationRole', tags, params: RoleIdParams,
      description: 'System roles: 403. A role held by a member or a pending invitation: 422 `organization_role_in_use`.',
      response: { 200: Deleted('role'), ...errors },
    },
  }, async (req) => deps.roles.remove(req.instance, req.params.organization_role_id))

  app.post('/v1/organization_roles/:organization_role_id/permissions/:permission_id', {
    schema: { operationId: 'AssignPermissionToOrganizationRole', tags, params: RolePermissionParams, response: { 200: ClerkRole, ...errors } },
  }, async (req) => deps.roles.assignPermission(req.instance, req.params.organization_role_id, req.params.permission_id))

  app.delete('/v1/organization_roles/:organization_role_id/permissions/:permission_id', {
    schema: { operationId: 'RemovePermissionFromOrganizationRole', tags, params: RolePermissionParams, response: { 200: ClerkRole, ...errors } },
  }, async (req) => deps.roles.unassignPermission(req.instance, req.params.organization_role_id, req.params.permission_id))

  const permissionTags = ['Organization Permissions']

  app.get('/v1/organization_permissions', {
    schema: {
      operationId: 'ListOrganizationPermissions', tags: permissionTags, querystring: ListPermissionsQuery,
      description: 'Newest first unless `order_by` says otherwise; system (`org:sys_…`) and user permissions.',
      response: { 200: ClerkPermissions, ...errors },
    },
  }, async (req) => {
    const { data, totalCount } = await deps.roles.listPermissions(req.instance, req.query)
    return { data: data.map(toClerkPermission), total_count: totalCount }
  })

  app.post('/v1/organization_permissions', {
    schema: {
      operationId: 'CreateOrganizationPermission', tags: permissionTags, body: CreatePermissionBody,
      description: 'Keys are `org:<feature>:<action>`; `org:sys_…` is reserved.',
      response: { 200: ClerkPermission, ...errors },
    },
  }, async (req) => toClerkPermission(await deps.roles.createPermission(req.instance, req.body)))

  app.get('/v1/organization_permissions/:permission_id', {
    schema: { operationId: 'GetOrganizationPermission', tags: permissionTags, params: PermissionIdParams, response: { 200: ClerkPermission, ...errors } },
  }, async (req) => toClerkPermission(await deps.roles.getPermission(req.instance, req.params.permission_id)))

  app.patch('/v1/organization_permissions/:permission_id', {
    schema: {
      operationId: 'UpdateOrganizationPermission', tags: permissionTags, params: PermissionIdParams, body: UpdatePermissionBody,
      description: 'System permissions: 403. A new key is carried over to the roles holding the permission.',
      response: { 200: ClerkPermission, ...errors },
    },
  }, async (req) => toClerkPermission(await deps.roles.updatePermission(req.instance, req.params.permission_id, req.body)))

  app.delete('/v1/organization_permissions/:permission_id', {
    schema: {
      operationId: 'DeleteOrganizationPermission', tags: permissionTags, params: PermissionIdParams,
      description: 'System permissions: 403. The permission is taken out of every role holding it.',
      response: { 200: Deleted('permission'), ...errors },
    },
  }, async (req) => deps.roles.removePermission(req.instance, req.params.permission_id))
}
