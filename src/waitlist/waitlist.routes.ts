import { Type } from 'typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Clock } from '../platform/clock.js'
import { limitedBy } from '../platform/rate-limit.js'
import { ClerkErrorsRef } from '../platform/openapi.js'
import type { Instance } from '../instance/instance.schemas.js'
import type { TicketService } from '../tickets/tickets.service.js'
import type { WaitlistService } from './waitlist.service.js'
import {
  ClerkWaitlistEntry, CreateWaitlistEntryBody, InviteWaitlistEntryBody, ListWaitlistEntriesQuery, WaitlistEntryIdParams,
  toClerkWaitlistEntry, type WaitlistEntryRow,
} from './waitlist.schemas.js'

interface Deps {
  waitlist: WaitlistService
  tickets: TicketService
  clock: Clock
}

const tags = ['Waitlist Entries']
const errors = { 400: ClerkErrorsRef, 401: ClerkErrorsRef, 404: ClerkErrorsRef, 422: ClerkErrorsRef, 429: ClerkErrorsRef }

export const waitlistRoutes = (deps: Deps): FastifyPluginAsyncTypebox => async (app) => {
  const present = (instance: Instance) => {
    const now = deps.clock.now(instance)
    return (row: WaitlistEntryRow) => toClerkWaitlistEntry(row, now, deps.tickets.url)
  }

  app.get('/v1/waitlist_entries', {
    schema: {
      operationId: 'ListWaitlistEntries', tags, querystring: ListWaitlistEntriesQuery,
      description: 'Newest first by default; always `{data, total_count}`. An invited entry whose invitation was accepted reads `completed`.',
      response: { 200: Type.Object({ data: Type.Array(ClerkWaitlistEntry), total_count: Type.Integer() }), ...errors },
    },
  }, async (req) => {
    const { data, totalCount } = await deps.waitlist.list(req.instance, req.query)
    return { data: data.map(present(req.instance)), total_count: totalCount }
  })

  app.post('/v1/waitlist_entries', {
    schema: {
      operationId: 'CreateWaitlistEntry', tags, body: CreateWaitlistEntryBody,
      description: 'An address already on the waitlist answers its existing entry. An address a user holds: 422 `form_identifier_exists`.',
      response: { 200: ClerkWaitlistEntry, ...errors },
    },
  }, async (req) => present(req.instance)(await deps.waitlist.join(req.instance, req.body.email_address)))

  // It creates an invitation and sends its email, so it counts against create_invitation.
  app.post('/v1/waitlist_entries/:waitlist_entry_id/invite', {
    schema: {
      operationId: 'InviteWaitlistEntry', tags, params: WaitlistEntryIdParams, body: Type.Optional(InviteWaitlistEntryBody),
      description: 'Creates an invitation with the `waitlist_invitation` email and marks the entry invited. An entry that is not pending: 400.',
      response: { 200: ClerkWaitlistEntry, ...errors },
    },
    config: limitedBy('create_invitation'),
  }, async (req) => present(req.instance)(await deps.waitlist.invite(req.instance, req.params.waitlist_entry_id, req.body ?? {})))
}
