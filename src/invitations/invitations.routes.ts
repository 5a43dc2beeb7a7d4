import { Type } from 'typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Clock } from '../platform/clock.js'
import { limitedBy } from '../platform/rate-limit.js'
import { ClerkErrorsRef, paginated } from '../platform/openapi.js'
import type { TicketService } from '../tickets/tickets.service.js'
import type { InvitationService } from './invitations.service.js'
import {
  ClerkInvitation, CreateBulkInvitationsBody, CreateInvitationBody, DeletedObject, InvitationIdParams,
  ListInvitationsQuery, ResendInvitationBody, toClerkInvitation,
} from './invitations.schemas.js'
import type { InvitationListRow } from './invitations.store.js'
import type { Instance } from '../instance/instance.schemas.js'

interface Deps {
  invitations: InvitationService
  tickets: TicketService
  clock: Clock
}

const tags = ['Invitations']
const errors = { 400: ClerkErrorsRef, 401: ClerkErrorsRef, 404: ClerkErrorsRef, 422: ClerkErrorsRef, 429: ClerkErrorsRef }

export const invitationRoutes = (deps: Deps): FastifyPluginAsyncTypebox => async (app) => {
  const present = (instance: Instance) => {
    const now = deps.clock.now(instance)
    return (row: InvitationListRow) => toClerkInvitation(row, now, deps.tickets.url(row))
  }

  // Clerk answers 200 (not 201) on create, and the SDK expects it.
  app.post('/v1/invitations', {
    schema: { operationId: 'CreateInvitation', tags, body: CreateInvitationBody, response: { 200: ClerkInvitation, ...errors } },
    config: limitedBy('create_invitation'),
  }, async (req) => present(req.instance)(await deps.invitations.create(req.instance, req.body)))

  app.post('/v1/invitations/bulk', {
    schema: { operationId: 'CreateBulkInvitations', tags, body: CreateBulkInvitationsBody, response: { 200: Type.Array(ClerkInvitation), ...errors } },
    config: limitedBy('create_invitation_bulk'),
  }, async (req) => (await deps.invitations.createBulk(req.instance, req.body)).map(present(req.instance)))

  app.get('/v1/invitations', {
    schema: {
      operationId: 'ListInvitations', tags, querystring: ListInvitationsQuery,
      description: 'Without `status`, revoked invitations are left out. `paginated=true` answers `{data, total_count}`; otherwise a plain array.',
      response: { 200: paginated(ClerkInvitation), ...errors },
    },
  }, async (req, reply) => {
    // Both shapes are exactly built by toClerkInvitation; plain JSON.stringify spares
    // fast-json-stringify from trying each branch of the union for every response.
    const { data, totalCount } = await deps.invitations.list(req.instance, req.query)
    reply.type('application/json').serializer(JSON.stringify)
    const items = data.map(present(req.instance))
    return totalCount === null ? items : { data: items, total_count: totalCount }
  })

  app.post('/v1/invitations/:invitation_id/revoke', {
    schema: { operationId: 'RevokeInvitation', tags, params: InvitationIdParams, response: { 200: ClerkInvitation, ...errors } },
  }, async (req) => present(req.instance)(await deps.invitations.revoke(req.instance, req.params.invitation_id)))

  app.post('/v1/invitations/:invitation_id/resend', {
    schema: {
      operationId: 'ResendInvitation', tags, params: InvitationIdParams, body: Type.Optional(ResendInvitationBody),
      description: 'Foyer extension: emails a pending invitation again with the same link. An expired one is re-issued first: a new link (the old one stops working) and a new expiry (`expires_in_days`, default 30), same id. Revoked or accepted: 400.',
      response: { 200: ClerkInvitation, ...errors },
    },
  }, async (req) => present(req.instance)(await deps.invitations.resend(req.instance, req.params.invitation_id, req.body ?? {})))

  app.delete('/v1/invitations/:invitation_id', {
    schema: {
      operationId: 'DeleteInvitation', tags, params: InvitationIdParams,
      description: 'Foyer extension: deletes an invitation in any status, with everything stored for its recipient.',
      response: { 200: DeletedObject, ...errors },
    },
  }, async (req) => deps.invitations.remove(req.instance, req.params.invitation_id))
}
