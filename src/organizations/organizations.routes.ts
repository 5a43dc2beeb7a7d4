import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ClerkErrorsRef } from '../platform/openapi.js'
import type { OrganizationService, OrganizationView } from './organizations.service.js'
import {
  ClerkOrganization, ClerkOrganizations, CreateOrganizationBody, DeletedOrganization, GetOrganizationQuery, ListOrganizationsQuery,
  OrganizationIdParams, OrganizationMetadataBody, UpdateOrganizationBody, toClerkOrganization,
} from './organizations.schemas.js'

interface Deps {
  organizations: OrganizationService
}

const tags = ['Organizations']
const errors = { 400: ClerkErrorsRef, 401: ClerkErrorsRef, 403: ClerkErrorsRef, 404: ClerkErrorsRef, 422: ClerkErrorsRef }
const present = (view: OrganizationView) => toClerkOrganization(view.row, view.extras)

export const organizationRoutes = (deps: Deps): FastifyPluginAsyncTypebox => async (app) => {
  // Clerk answers 200 (not 201) on create, and the SDK expects it.
  app.post('/v1/organizations', {
    schema: {
      operationId: 'CreateOrganization', tags, body: CreateOrganizationBody,
      description: 'Without `slug`, one is made from the name (with a random suffix if taken); a `slug` given and taken: 422 `form_identifier_exists`. `created_by` becomes the first member, role `org:admin`.',
      response: { 200: ClerkOrganization, ...errors },
    },
  }, async (req) => toClerkOrganization(await deps.organizations.create(req.instance, req.body)))

  app.get('/v1/organizations', {
    schema: {
      operationId: 'ListOrganizations', tags, querystring: ListOrganizationsQuery,
      description: 'Newest first unless `order_by` says otherwise; always `{data, total_count}`.',
      response: { 200: ClerkOrganizations, ...errors },
    },
  }, async (req) => {
    const { data, totalCount } = await deps.organizations.list(req.instance, req.query)
    return { data: data.map(present), total_count: totalCount }
  })

  app.get('/v1/organizations/:organization_id', {
    schema: {
      operationId: 'GetOrganization', tags, params: OrganizationIdParams, querystring: GetOrganizationQuery,
      description: 'By id or slug.',
      response: { 200: ClerkOrganization, ...errors },
    },
  }, async (req) => present(await deps.organizations.get(req.instance, req.params.organization_id, req.query)))

  app.patch('/v1/organizations/:organization_id', {
    schema: {
      operationId: 'UpdateOrganization', tags, params: OrganizationIdParams, body: UpdateOrganizationBody,
      response: { 200: ClerkOrganization, ...errors },
    },
  }, async (req) => toClerkOrganization(await deps.organizations.update(req.instance, req.params.organization_id, req.body)))

  app.patch('/v1/organizations/:organization_id/metadata', {
    schema: {
      operationId: 'MergeOrganizationMetadata', tags, params: OrganizationIdParams, body: OrganizationMetadataBody,
      description: 'Deep-merges each object given into the stored one; a key set to null is removed.',
      response: { 200: ClerkOrganization, ...errors },
    },
  }, async (req) => toClerkOrganization(await deps.organizations.updateMetadata(req.instance, req.params.organization_id, req.body, 'merge')))

  app.put('/v1/organizations/:organization_id/metadata', {
    schema: {
      operationId: 'ReplaceOrganizationMetadata', tags, params: OrganizationIdParams, body: OrganizationMetadataBody,
      description: 'Replaces each object given in full; one left out is unchanged.',
      response: { 200: ClerkOrganization, ...errors },
    },
  }, async (req) => toClerkOrganization(await deps.organizations.updateMetadata(req.instance, req.params.organization_id, req.body, 'replace')))

  app.delete('/v1/organizations/:organization_id', {
    schema: {
      operationId: 'DeleteOrganization', tags, params: OrganizationIdParams,
      description: 'Deletes the organization with its memberships, invitations and domains.',
      response: { 200: DeletedOrganization, ...errors },
    },
  }, async (req) => deps.organizations.remove(req.instance, req.params.organization_id))
}
