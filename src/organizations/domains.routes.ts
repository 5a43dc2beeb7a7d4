import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ClerkErrorsRef } from '../platform/openapi.js'
import { DeletedObject } from '../invitations/invitations.schemas.js'
import type { DomainService } from './domains.service.js'
import {
  AttemptAffiliationBody, ClerkOrganizationDomain, ClerkOrganizationDomains, CreateDomainBody, DomainParams, ListAllDomainsQuery,
  ListDomainsQuery, OrganizationParams, PrepareAffiliationBody, UpdateDomainBody,
} from './domains.schemas.js'

const tags = ['Organization domains']
const errors = { 400: ClerkErrorsRef, 401: ClerkErrorsRef, 403: ClerkErrorsRef, 404: ClerkErrorsRef, 422: ClerkErrorsRef }
const one = { 200: ClerkOrganizationDomain, ...errors }

export const domainRoutes = (deps: { domains: DomainService }): FastifyPluginAsyncTypebox => async (app) => {
  const { domains } = deps
  const base = '/v1/organizations/:organization_id/domains'

  // Clerk answers 200 (not 201) on create.
  app.post(base, {
    schema: { operationId: 'CreateOrganizationDomain', tags, params: OrganizationParams, body: CreateDomainBody, response: one },
  }, async (req) => domains.create(req.instance, req.params.organization_id, req.body))

  app.get(base, {
    schema: { operationId: 'ListOrganizationDomains', tags, params: OrganizationParams, querystring: ListDomainsQuery, response: { 200: ClerkOrganizationDomains, ...errors } },
  }, async (req) => domains.list(req.instance, req.params.organization_id, req.query))

  app.get(`${base}/:domain_id`, {
    schema: { operationId: 'GetOrganizationDomain', tags, params: DomainParams, response: one, description: 'Foyer extension (Clerk has it in its Frontend API only).' },
  }, async (req) => domains.get(req.instance, req.params.organization_id, req.params.domain_id))

  app.patch(`${base}/:domain_id`, {
    schema: { operationId: 'UpdateOrganizationDomain', tags, params: DomainParams, body: UpdateDomainBody, response: one },
  }, async (req) => domains.update(req.instance, req.params.organization_id, req.params.domain_id, req.body))

  app.delete(`${base}/:domain_id`, {
    schema: { operationId: 'DeleteOrganizationDomain', tags, params: DomainParams, response: { 200: DeletedObject, ...errors } },
  }, async (req) => domains.remove(req.instance, req.params.organization_id, req.params.domain_id))

  app.post(`${base}/:domain_id/verify_ownership`, {
    schema: {
      operationId: 'VerifyOrganizationDomainOwnership', tags, params: DomainParams, response: one,
      description: 'Marks the domain verified on the operator\'s word (strategy `manual_override`). Idempotent.',
    },
  }, async (req) => domains.verifyOwnership(req.instance, req.params.organization_id, req.params.domain_id))

  app.post(`${base}/:domain_id/prepare_affiliation_verification`, {
    schema: {
      operationId: 'PrepareOrganizationDomainVerification', tags, params: DomainParams, body: PrepareAffiliationBody, response: one,
      description: 'Foyer extension (Clerk has it in its Frontend API): emails a 6-digit code, valid 10 minutes, to `affiliation_email_address`, which must be at the domain. A new code replaces the previous one.',
    },
  }, async (req) => domains.prepareAffiliation(req.instance, req.params.organization_id, req.params.domain_id, req.body.affiliation_email_address))

  app.post(`${base}/:domain_id/attempt_affiliation_verification`, {
    schema: {
      operationId: 'AttemptOrganizationDomainVerification', tags, params: DomainParams, body: AttemptAffiliationBody, response: one,
      description: 'Foyer extension (Clerk has it in its Frontend API): the emailed code verifies the domain. Five tries per code; a wrong one answers 422 `form_code_incorrect`.',
    },
  }, async (req) => domains.attemptAffiliation(req.instance, req.params.organization_id, req.params.domain_id, req.body.code))

  app.get('/v1/organization_domains', {
    schema: { operationId: 'ListAllOrganizationDomains', tags, querystring: ListAllDomainsQuery, response: { 200: ClerkOrganizationDomains, ...errors } },
  }, async (req) => domains.listAll(req.instance, req.query))
}
