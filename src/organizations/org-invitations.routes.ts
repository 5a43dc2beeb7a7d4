import { Type } from 'typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Clock } from '../platform/clock.js'
import { limitedBy } from '../platform/rate-limit.js'
import { ClerkErrorsRef } from '../platform/openapi.js'
import type { Instance } from '../instance/instance.schemas.js'
import type { OrgInvitationService } from './org-invitations.service.js'
import {
  ClerkOrganizationInvitation, ClerkOrganizationInvitations, ClerkOrganizationInvitationsWithOrganization,
  CreateOrgInvitationBody, CreateOrgInvitationBulkBody, ListInstanceOrgInvitationsQuery, ListOrgInvitationsQuery,
  ListPendingOrgInvitationsQuery, ListUserOrgInvitationsQuery, OrganizationIdParams, OrgInvitationIdParams,
  RevokeOrgInvitationBody, UserIdParams, toClerkOrganizationInvitation, type OrgInvitationView,
} from './org-invitations.schemas.js'

interface Deps {
  orgInvitations: OrgInvitationService
  clock: Clock
}

const tags = ['Organization invitations']
const errors = { 400: ClerkErrorsRef, 401: ClerkErrorsRef, 403: ClerkErrorsRef, 404: ClerkErrorsRef, 422: ClerkErrorsRef, 429: ClerkErrorsRef }

export const orgInvitationRoutes = (deps: Deps): FastifyPluginAsyncTypebox => async (app) => {
  const { orgInvitations } = deps
  const present = (instance: Instance) => {
    const now = deps.clock.now(instance)
    return (row: OrgInvitationView) => toClerkOrganizationInvitation(row, now, orgInvitations.url(row))
  }
  const presentWithOrganization = (instance: Instance) => {
    const now = deps.clock.now(instance)
    return (row: OrgInvitationView) => toClerkOrganizationInvitation(row, now, orgInvitations.url(row), { withOrganization: true })
  }

  // Clerk answers 200 (not 201) on create, and the SDK expects it.
  app.post('/v1/organizations/:organization_id/invitations', {
    schema: {
      operationId: 'CreateOrganizationInvitation', tags, params: OrganizationIdParams, body: CreateOrgInvitationBody,
      description: 'An inviter must be a member holding `org:sys_memberships:manage` (403 otherwise); the role must exist (404 naming `role`); an address that belongs to a member (400 `already_a_member_in_organization`) or already has a usable pending invitation (400 `organization_invitation_not_unique`) is refused; members plus pending invitations may not exceed `max_allowed_memberships` (403 `organization_membership_quota_exceeded`).',
      response: { 200: ClerkOrganizationInvitation, ...errors },
    },
    config: limitedBy('create_organization_invitation'),
  }, async (req) => present(req.instance)(await orgInvitations.create(req.instance, req.params.organization_id, req.body)))

  app.post('/v1/organizations/:organization_id/invitations/bulk', {
    schema: {
      operationId: 'CreateOrganizationInvitationBulk', tags, params: OrganizationIdParams, body: CreateOrgInvitationBulkBody,
      description: '1 to 10 invitations, all or nothing: the error of a refused item names it (`[2].email_address`).',
      response: { 200: ClerkOrganizationInvitations, ...errors },
    },
    config: limitedBy('create_organization_invitation_bulk'),
  }, async (req) => {
    const rows = await orgInvitations.createBulk(req.instance, req.params.organization_id, req.body)
    return { data: rows.map(present(req.instance)), total_count: rows.length }
  })

  app.get('/v1/organizations/:organization_id/invitations', {
    schema: {
      operationId: 'ListOrganizationInvitations', tags, params: OrganizationIdParams, querystring: ListOrgInvitationsQuery,
      description: 'Invitations a verified domain made are left out, as Clerk does. Always `{data, total_count}`.',
      response: { 200: ClerkOrganizationInvitations, ...errors },
    },
  }, async (req) => {
    const { data, totalCount } = await orgInvitations.list(req.instance, req.params.organization_id, req.query)
    return { data: data.map(present(req.instance)), total_count: totalCount }
  })

  app.get('/v1/organizations/:organization_id/invitations/pending', {
    schema: {
      operationId: 'ListPendingOrganizationInvitations', tags, params: OrganizationIdParams, querystring: ListPendingOrgInvitationsQuery,
      response: { 200: ClerkOrganizationInvitations, ...errors },
    },
  }, async (req) => {
    const { data, totalCount } = await orgInvitations.listPending(req.instance, req.params.organization_id, req.query)
    return { data: data.map(present(req.instance)), total_count: totalCount }
  })

  app.get('/v1/organizations/:organization_id/invitations/:invitation_id', {
    schema: {
      operationId: 'GetOrganizationInvitation', tags, params: OrgInvitationIdParams,
      response: { 200: ClerkOrganizationInvitation, ...errors },
    },
  }, async (req) => present(req.instance)(await orgInvitations.get(req.instance, req.params.organization_id, req.params.invitation_id)))

  app.post('/v1/organizations/:organization_id/invitations/:invitation_id/revoke', {
    schema: {
      operationId: 'RevokeOrganizationInvitation', tags, params: OrgInvitationIdParams, body: Type.Optional(RevokeOrgInvitationBody),
      description: 'Only a pending, unexpired invitation (otherwise 404 `organization_invitation_not_pending`, as Clerk answers).',
      response: { 200: ClerkOrganizationInvitation, ...errors },
    },
  }, async (req) => present(req.instance)(await orgInvitations.revoke(req.instance, req.params.organization_id, req.params.invitation_id, req.body ?? {})))

  app.get('/v1/organization_invitations', {
    schema: {
      operationId: 'ListInstanceOrganizationInvitations', tags, querystring: ListInstanceOrgInvitationsQuery,
      response: { 200: ClerkOrganizationInvitationsWithOrganization, ...errors },
    },
  }, async (req) => {
    const { data, totalCount } = await orgInvitations.listInstance(req.instance, req.query)
    return { data: data.map(presentWithOrganization(req.instance)), total_count: totalCount }
  })

  app.get('/v1/users/:user_id/organization_invitations', {
    schema: {
      operationId: 'UsersGetOrganizationInvitations', tags, params: UserIdParams, querystring: ListUserOrgInvitationsQuery,
      description: 'Invitations to any of the user\'s email addresses, in every organization of the instance.',
      response: { 200: ClerkOrganizationInvitationsWithOrganization, ...errors },
    },
  }, async (req) => {
    const { data, totalCount } = await orgInvitations.listForUser(req.instance, req.params.user_id, req.query)
    return { data: data.map(presentWithOrganization(req.instance)), total_count: totalCount }
  })
}
