import { Type } from 'typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ClerkErrorsRef, paginated } from '../platform/openapi.js'
import { DeletedObject } from '../invitations/invitations.schemas.js'
import type { RestrictionService } from './restrictions.service.js'
import {
  ClerkAllowlistIdentifier, ClerkBlocklistIdentifier, CreateAllowlistIdentifierBody, CreateBlocklistIdentifierBody, IdentifierIdParams,
  ListIdentifiersQuery, toClerkIdentifier,
} from './restrictions.schemas.js'

interface Deps {
  restrictions: RestrictionService
}

const tags = ['Allow-list / Block-list']
const errors = { 400: ClerkErrorsRef, 401: ClerkErrorsRef, 404: ClerkErrorsRef, 422: ClerkErrorsRef }
const identifiers = 'An email address, or a whole domain written `*@example.com`; matched case-insensitively. One the list holds already: 400 `duplicate_record`; anything else: 422 naming `identifier`.'

export const restrictionRoutes = (deps: Deps): FastifyPluginAsyncTypebox => async (app) => {
  const { restrictions } = deps

  app.get('/v1/allowlist_identifiers', {
    schema: {
      operationId: 'ListAllowlistIdentifiers', tags, querystring: ListIdentifiersQuery,
      description: 'Newest first. A plain array; `paginated=true` answers `{data, total_count}`.',
      response: { 200: paginated(ClerkAllowlistIdentifier), ...errors },
    },
  }, async (req, reply) => {
    const { data, totalCount } = await restrictions.list(req.instance, 'allowlist', req.query)
    // Both shapes are exactly built by toClerkIdentifier: no need to try each branch of the union.
    reply.type('application/json').serializer(JSON.stringify)
    const rows = data.map(toClerkIdentifier)
    return req.query.paginated === true ? { data: rows, total_count: totalCount } : rows
  })

  // Clerk answers 200 (not 201) on create.
  app.post('/v1/allowlist_identifiers', {
    schema: {
      operationId: 'CreateAllowlistIdentifier', tags, body: CreateAllowlistIdentifierBody,
      description: `In the restricted sign-up mode, an address on the allowlist (itself or its domain) may sign up without an invitation. ${identifiers}`,
      response: { 200: ClerkAllowlistIdentifier, ...errors },
    },
  }, async (req) => toClerkIdentifier(await restrictions.create(req.instance, 'allowlist', req.body)))

  app.delete('/v1/allowlist_identifiers/:identifier_id', {
    schema: { operationId: 'DeleteAllowlistIdentifier', tags, params: IdentifierIdParams, response: { 200: DeletedObject, ...errors } },
  }, async (req) => restrictions.remove(req.instance, 'allowlist', req.params.identifier_id))

  app.get('/v1/blocklist_identifiers', {
    schema: {
      operationId: 'ListBlocklistIdentifiers', tags, querystring: ListIdentifiersQuery,
      description: 'Newest first, always as `{data, total_count}`.',
      response: { 200: Type.Object({ data: Type.Array(ClerkBlocklistIdentifier), total_count: Type.Integer() }), ...errors },
    },
  }, async (req) => {
    const { data, totalCount } = await restrictions.list(req.instance, 'blocklist', req.query)
    return { data: data.map(toClerkIdentifier), total_count: totalCount }
  })

  app.post('/v1/blocklist_identifiers', {
    schema: {
      operationId: 'CreateBlocklistIdentifier', tags, body: CreateBlocklistIdentifierBody,
      description: `An address on the blocklist (itself or its domain) cannot be invited, sign up or sign in. ${identifiers}`,
      response: { 200: ClerkBlocklistIdentifier, ...errors },
    },
  }, async (req) => toClerkIdentifier(await restrictions.create(req.instance, 'blocklist', req.body)))

  app.delete('/v1/blocklist_identifiers/:identifier_id', {
    schema: { operationId: 'DeleteBlocklistIdentifier', tags, params: IdentifierIdParams, response: { 200: DeletedObject, ...errors } },
  }, async (req) => restrictions.remove(req.instance, 'blocklist', req.params.identifier_id))
}
