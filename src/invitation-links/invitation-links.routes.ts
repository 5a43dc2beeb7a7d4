import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ClerkErrorsRef, paginated } from '../platform/openapi.js'
import type { InvitationLinkService } from './invitation-links.service.js'
import {
  ClerkInvitationLink, ClerkInvitationLinkUse, CreateInvitationLinkBody, InvitationLinkIdParams, ListInvitationLinksQuery, ListUsesQuery,
} from './invitation-links.schemas.js'

const tags = ['Invitation Links']
const errors = { 400: ClerkErrorsRef, 401: ClerkErrorsRef, 404: ClerkErrorsRef, 422: ClerkErrorsRef, 429: ClerkErrorsRef }
const extension = 'Foyer extension.'

/** Shareable invitation links (README, "Invitation links"): create, list, read, revoke, and their uses. */
export const invitationLinkRoutes = (deps: { links: InvitationLinkService }): FastifyPluginAsyncTypebox => async (app) => {
  const { links } = deps

  app.post('/v1/invitation_links', {
    schema: {
      operationId: 'CreateInvitationLink', tags, body: CreateInvitationLinkBody,
      description: `${extension} A link into the application, or into an organization with a role. Whoever opens it gives an address, proves it by an emailed code, and then signs up (or signs in) and joins; each such address is one use.`,
      response: { 200: ClerkInvitationLink, ...errors },
    },
  }, async (req) => links.present(req.instance)(await links.create(req.instance, req.body)))

  app.get('/v1/invitation_links', {
    schema: {
      operationId: 'ListInvitationLinks', tags, querystring: ListInvitationLinksQuery,
      description: `${extension} Newest first. \`paginated=true\` answers \`{data, total_count}\`; otherwise a plain array.`,
      response: { 200: paginated(ClerkInvitationLink), ...errors },
    },
  }, async (req, reply) => {
    const { data, totalCount } = await links.list(req.instance, req.query)
    reply.type('application/json').serializer(JSON.stringify)
    const items = data.map(links.present(req.instance))
    return totalCount === null ? items : { data: items, total_count: totalCount }
  })

  app.get('/v1/invitation_links/:invitation_link_id', {
    schema: { operationId: 'GetInvitationLink', tags, params: InvitationLinkIdParams, description: extension, response: { 200: ClerkInvitationLink, ...errors } },
  }, async (req) => links.present(req.instance)(await links.get(req.instance, req.params.invitation_link_id)))

  app.get('/v1/invitation_links/:invitation_link_id/uses', {
    schema: {
      operationId: 'ListInvitationLinkUses', tags, params: InvitationLinkIdParams, querystring: ListUsesQuery,
      description: `${extension} Who used the link and when, newest first. \`paginated=true\` answers \`{data, total_count}\`; otherwise a plain array.`,
      response: { 200: paginated(ClerkInvitationLinkUse), ...errors },
    },
  }, async (req, reply) => {
    const { data, totalCount } = await links.uses(req.instance, req.params.invitation_link_id, req.query)
    reply.type('application/json').serializer(JSON.stringify)
    return totalCount === null ? data : { data, total_count: totalCount }
  })

  app.post('/v1/invitation_links/:invitation_link_id/revoke', {
    schema: {
      operationId: 'RevokeInvitationLink', tags, params: InvitationLinkIdParams,
      description: `${extension} The link stops working at once; personal invitations it already issued are not affected. Revoked already: 400.`,
      response: { 200: ClerkInvitationLink, ...errors },
    },
  }, async (req) => links.present(req.instance)(await links.revoke(req.instance, req.params.invitation_link_id)))
}
