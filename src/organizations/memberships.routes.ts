import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ClerkErrorsRef } from '../platform/openapi.js'
import { OrganizationIdParams } from './organizations.schemas.js'
import type { MembershipService } from './memberships.service.js'
import {
  ClerkMembership, ClerkMemberships, CreateMembershipBody, InstanceMembershipsQuery, ListMembershipsQuery, MembershipMetadataBody, MembershipParams, PageQuery,
  UpdateMembershipBody, UserIdParams, toClerkMembership,
} from './memberships.schemas.js'

interface Deps {
  memberships: MembershipService
}

const tags = ['Organization Memberships']
const errors = { 400: ClerkErrorsRef, 401: ClerkErrorsRef, 403: ClerkErrorsRef, 404: ClerkErrorsRef, 422: ClerkErrorsRef }

export const membershipRoutes = (deps: Deps): FastifyPluginAsyncTypebox => async (app) => {
  // Clerk answers 200 (not 201) on create, and the SDK expects it.
  app.post('/v1/organizations/:organization_id/memberships', {
    schema: {
      operationId: 'CreateOrganizationMembership', tags, params: OrganizationIdParams, body: CreateMembershipBody,
      description: 'Adds an existing user without an invitation. Unknown role: 422; already a member: 400 `already_a_member_in_organization`; members plus pending invitations at `max_allowed_memberships`: 403 `organization_membership_quota_exceeded`.',
      response: { 200: ClerkMembership, ...errors },
    },
  }, async (req) => toClerkMembership(await deps.memberships.create(req.instance, req.params.organization_id, req.body)))

  app.get('/v1/organizations/:organization_id/memberships', {
    schema: {
      operationId: 'ListOrganizationMemberships', tags, params: OrganizationIdParams, querystring: ListMembershipsQuery,
      description: 'Newest first unless `order_by` says otherwise; always `{data, total_count}`.',
      response: { 200: ClerkMemberships, ...errors },
    },
  }, async (req) => {
    const { data, totalCount } = await deps.memberships.list(req.instance, req.params.organization_id, req.query)
    return { data: data.map(toClerkMembership), total_count: totalCount }
  })

  app.patch('/v1/organizations/:organization_id/memberships/:user_id', {
    schema: {
      operationId: 'UpdateOrganizationMembership', tags, params: MembershipParams, body: UpdateMembershipBody,
      description: 'Taking `org:sys_memberships:manage` from the last member holding it: 422 `organization_minimum_permissions_needed`.',
      response: { 200: ClerkMembership, ...errors },
    },
  }, async (req) => toClerkMembership(await deps.memberships.update(req.instance, req.params.organization_id, req.params.user_id, req.body)))

  app.patch('/v1/organizations/:organization_id/memberships/:user_id/metadata', {
    schema: {
      operationId: 'UpdateOrganizationMembershipMetadata', tags, params: MembershipParams, body: MembershipMetadataBody,
      description: 'Deep-merges each object given into the stored one; a key set to null is removed.',
      response: { 200: ClerkMembership, ...errors },
    },
  }, async (req) => toClerkMembership(await deps.memberships.updateMetadata(req.instance, req.params.organization_id, req.params.user_id, req.body ?? {})))

  app.delete('/v1/organizations/:organization_id/memberships/:user_id', {
    schema: {
      operationId: 'DeleteOrganizationMembership', tags, params: MembershipParams,
      description: 'Answers the membership as it was. Removing the last member holding `org:sys_memberships:manage`: 422 `organization_minimum_permissions_needed`.',
      response: { 200: ClerkMembership, ...errors },
    },
  }, async (req) => toClerkMembership(await deps.memberships.remove(req.instance, req.params.organization_id, req.params.user_id)))

  app.get('/v1/organization_memberships', {
    schema: {
      operationId: 'InstanceGetOrganizationMemberships', tags, querystring: InstanceMembershipsQuery,
      description: 'Every organization\'s memberships; always `{data, total_count}`.',
      response: { 200: ClerkMemberships, ...errors },
    },
  }, async (req) => {
    const { data, totalCount } = await deps.memberships.listInstance(req.instance, req.query)
    return { data: data.map(toClerkMembership), total_count: totalCount }
  })

  app.get('/v1/users/:user_id/organization_memberships', {
    schema: {
      operationId: 'UsersGetOrganizationMemberships', tags: ['Users'], params: UserIdParams, querystring: PageQuery,
      description: 'Newest first; always `{data, total_count}`. Unknown user: 404.',
      response: { 200: ClerkMemberships, ...errors },
    },
  }, async (req) => {
    const { data, totalCount } = await deps.memberships.listForUser(req.instance, req.params.user_id, req.query)
    return { data: data.map(toClerkMembership), total_count: totalCount }
  })
}
