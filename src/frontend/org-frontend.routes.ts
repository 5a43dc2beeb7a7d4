import type { FastifyRequest } from 'fastify'
import rateLimit from '@fastify/rate-limit'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { AcceptService, SignedIn } from '../accept/accept.service.js'
import { sessionCookie } from '../accept/session-cookie.js'
import type { Clock } from '../platform/clock.js'
import type { SessionTokenService } from '../sessions/session-tokens.js'
import { ApiError, paramError, signedOut } from '../platform/errors.js'
import { ORG_INVITATION_STATUSES, type OrgInvitationStatus } from '../organizations/org-invitations.schemas.js'
import { toClerkMembership } from '../organizations/memberships.schemas.js'
import { CREDENTIAL, useCredentialConstraint } from './credential-constraint.js'
import { useFrontendConventions } from './frontend.conventions.js'
import { clientFactsOf } from './client-facts.js'
import {
  ClientInviteBody, InvitationIdParams, SuggestionIdParams, toFapiClient, toFapiEmailAddress, toFapiMembership, toFapiOrgInvitation, toFapiOrgSuggestion,
} from './frontend.schemas.js'
import {
  AddEmailAddressBody, EmailIdParams, MeAttemptVerificationBody, MePrepareVerificationBody, MeQuery, MyMembershipsQuery, MyOrgInvitationsQuery, MySuggestionsQuery, statusList,
} from './org-frontend.schemas.js'
import type { EmailAddressService } from '../users/email-addresses.service.js'
import type { EmailAddressRow } from '../users/users.store.js'

interface Deps {
  accept: AcceptService
  emailAddresses: EmailAddressService
  clock: Clock
  publicUrl: string
  allowedRedirectOrigins: readonly string[]
  tokens: Pick<SessionTokenService, 'mintFor'>
}

const HOUR_MS = 60 * 60 * 1000

/** The statuses `value` names, each one of `allowed` (422 otherwise); null for every status. */
function statusesOf<S extends string>(value: string | string[] | undefined, allowed: readonly S[]): S[] | null {
  const statuses = statusList(value)
  for (const status of statuses ?? []) {
    if (!(allowed as readonly string[]).includes(status)) {
      throw paramError(422, 'form_param_value_invalid', 'status', 'is invalid', `status must be one of: ${allowed.join(', ')}.`)
    }
  }
  return statuses as S[] | null
}

// Clerk's statuses of a suggestion. Foyer keeps only the pending ones listable: a person's
// accepted suggestions are not listed (see README, "Frontend API for custom flows").
const SUGGESTION_STATUSES = ['pending', 'accepted'] as const

/**
 * Clerk's Frontend API for organization invitations, answered for the browser's session: the
 * signed-in person's own invitations (`/v1/me/organization_invitations`, list and accept), the
 * organizations suggested to them (`/v1/me/organization_suggestions`), and inviting from the
 * client side (`POST /v1/organizations/{id}/invitations` with the session cookie, which the
 * Backend API serves with a secret key on the same path; see credential-constraint.ts).
 * Registered without a prefix: each part gets its own, so CORS and the Origin check cover
 * those paths and nothing else.
 */
export const orgFrontendRoutes = (deps: Deps): FastifyPluginAsyncTypebox => async (app) => {
  const { accept } = deps
  const cookie = sessionCookie(deps.publicUrl)
  const hide = true
  const now = () => deps.clock.now()
  useCredentialConstraint(app)

  /**
   * The cookie's session, or 401 signed_out. It must be of the instance the request names, and
   * the session clerk-js says it acts for (`_clerk_session_id`): a browser whose cookie now
   * holds another session (signed in again elsewhere, as someone else) must not read or
   * accept that person's invitations under the first one's name. clerk-js answers a 401 by
   * reloading its client, which then holds the cookie's session.
   */
  async function signedIn(request: FastifyRequest, query: MeQuery): Promise<SignedIn> {
    const found = await accept.session(cookie.read(request))
    if (!found || (query.instance && query.instance !== found.instance.id)) throw signedOut()
    if (query._clerk_session_id && query._clerk_session_id !== found.session.id) throw signedOut()
    return found
  }
  const factsOf = clientFactsOf(deps)
  const client = async (request: FastifyRequest, who: SignedIn) => toFapiClient(who, await factsOf(request, who), now())
  /** An address as the response, with the Client as it now is (the User lists the address, or no longer does). */
  async function withAddress(request: FastifyRequest, who: SignedIn, response: EmailAddressRow | { object: 'email_address'; id: string; deleted: true }) {
    const current = await accept.session(who.session.token) ?? who
    const facts = await factsOf(request, current)
    return {
      response: 'deleted' in response ? response : toFapiEmailAddress(response, facts.code, deps.clock.now(who.instance)),
      client: toFapiClient(current, facts, now()),
    }
  }

  const mine: FastifyPluginAsyncTypebox = async (me) => {
    await useFrontendConventions(me, deps)

    me.get('/organization_invitations', { schema: { hide, querystring: MyOrgInvitationsQuery } }, async (request) => {
      const who = await signedIn(request, request.query)
      const { rows, total } = await accept.organizations.list(who, {
        statuses: statusesOf<OrgInvitationStatus>(request.query.status, ORG_INVITATION_STATUSES), limit: request.query.limit ?? 10, offset: request.query.offset ?? 0,
      })
      const at = deps.clock.now(who.instance)
      return { response: { data: rows.map((row) => toFapiOrgInvitation(row, at)), total_count: total }, client: await client(request, who) }
    })

    me.post('/organization_invitations/:invitation_id/accept', { schema: { hide, querystring: MeQuery, params: InvitationIdParams } }, async (request) => {
      const who = await signedIn(request, request.query)
      const joined = await accept.organizations.accept(who, { invitationId: request.params.invitation_id })
      // Joining made the organization the session's active one: the Client says so.
      const member = await accept.session(who.session.token) ?? who
      return { response: toFapiOrgInvitation(joined.invitation, deps.clock.now(who.instance)), client: await client(request, member) }
    })

    me.get('/organization_memberships', { schema: { hide, querystring: MyMembershipsQuery } }, async (request) => {
      const who = await signedIn(request, request.query)
      const { data, totalCount } = await accept.organizations.memberships(who, { limit: request.query.limit ?? 10, offset: request.query.offset ?? 0 })
      const memberships = data.map((m) => toFapiMembership(toClerkMembership(m)))
      return { response: request.query.paginated === false ? memberships : { data: memberships, total_count: totalCount }, client: await client(request, who) }
    })

    me.get('/organization_suggestions', { schema: { hide, querystring: MySuggestionsQuery } }, async (request) => {
      const who = await signedIn(request, request.query)
      const statuses = statusesOf(request.query.status, SUGGESTION_STATUSES)
      const { suggestions: pending } = await accept.organizations.pending(who)
      const suggestions = !statuses || statuses.includes('pending') ? pending : []
      const offset = request.query.offset ?? 0
      const page = suggestions.slice(offset, offset + (request.query.limit ?? 10))
      return { response: { data: page.map(toFapiOrgSuggestion), total_count: suggestions.length }, client: await client(request, who) }
    })

    me.post('/organization_suggestions/:suggestion_id/accept', { schema: { hide, querystring: MeQuery, params: SuggestionIdParams } }, async (request) => {
      const who = await signedIn(request, request.query)
      const suggestion = await accept.organizations.answerSuggestion(who, request.params.suggestion_id, 'accepted')
      return { response: toFapiOrgSuggestion(suggestion), client: await client(request, who) }
    })
  }

  // The signed-in person's addresses: add one, prove it by an emailed code, remove it.
  const addresses: FastifyPluginAsyncTypebox = async (me) => {
    const { emailAddresses } = deps
    await useFrontendConventions(me, deps)
    const params = EmailIdParams

    // A bare array, as Clerk's getEmailAddresses answers.
    me.get('/', { schema: { hide, querystring: MeQuery } }, async (request) => {
      const who = await signedIn(request, request.query)
      const { code } = await accept.userFacts(who)
      const at = deps.clock.now(who.instance)
      return (await emailAddresses.listOwn(who.instance, who.user.id)).map((e) => toFapiEmailAddress(e, code, at))
    })

    me.post('/', { schema: { hide, querystring: MeQuery, body: AddEmailAddressBody } }, async (request) => {
      const who = await signedIn(request, request.query)
      return withAddress(request, who, await emailAddresses.addOwn(who.instance, who.user.id, request.body.email_address))
    })

    me.get('/:email_id', { schema: { hide, querystring: MeQuery, params } }, async (request) => {
      const who = await signedIn(request, request.query)
      return withAddress(request, who, await emailAddresses.getOwn(who.instance, who.user.id, request.params.email_id))
    })

    me.post('/:email_id/prepare_verification', { schema: { hide, querystring: MeQuery, params, body: MePrepareVerificationBody } }, async (request) => {
      const who = await signedIn(request, request.query)
      if (request.body.strategy !== 'email_code') {
        throw paramError(422, 'form_param_value_invalid', 'strategy', 'is invalid', 'Foyer verifies an added email address by a code emailed to it (email_code) only.')
      }
      return withAddress(request, who, await emailAddresses.prepareVerification(who.instance, who.user.id, request.params.email_id))
    })

    me.post('/:email_id/attempt_verification', { schema: { hide, querystring: MeQuery, params, body: MeAttemptVerificationBody } }, async (request) => {
      const who = await signedIn(request, request.query)
      return withAddress(request, who, await emailAddresses.attemptVerification(who.instance, who.user.id, request.params.email_id, request.body.code))
    })

    me.delete('/:email_id', { schema: { hide, querystring: MeQuery, params } }, async (request) => {
      const who = await signedIn(request, request.query)
      return withAddress(request, who, await emailAddresses.removeOwn(who.instance, who.user.id, request.params.email_id))
    })
  }

  const clientInvite: FastifyPluginAsyncTypebox = async (org) => {
    await useFrontendConventions(org, deps)
    // Each invitation may send an email: client-side invites get the instance's hourly
    // create_organization_invitation budget too (counted apart from the Backend API's), per
    // inviter, so that one member cannot spend everyone's.
    await org.register(rateLimit, { global: false, skipOnError: true })
    const inviters = new WeakMap<FastifyRequest, SignedIn>()
    const limit = org.createRateLimit({
      timeWindow: HOUR_MS,
      keyGenerator: (request) => `fapi-org-invite:${inviters.get(request)!.instance.id}:${inviters.get(request)!.user.id}`,
      max: (request) => inviters.get(request)!.instance.rateLimits.create_organization_invitation,
    })

    // Only requests carrying the session cookie and no Authorization header reach this route;
    // the Backend API's route of the same path answers all others.
    org.post('/', {
      constraints: { [CREDENTIAL]: 'session' },
      schema: { hide, querystring: MeQuery, body: ClientInviteBody },
    }, async (request) => {
      const who = await signedIn(request, request.query)
      if (who.instance.rateLimits.create_organization_invitation > 0) {
        inviters.set(request, who)
        const result = await limit(request)
        if (!result.isAllowed && result.isExceeded) {
          throw new ApiError(429, 'too_many_requests', 'Too many requests',
            `This endpoint allows ${result.max} requests per hour for this instance. Retry after ${result.ttlInSeconds} seconds.`, {}, { 'retry-after': String(result.ttlInSeconds) })
        }
      }
      const params = request.params as { organization_id: string }
      const invitation = await accept.organizations.invite(who, params.organization_id, request.body)
      return { response: toFapiOrgInvitation(invitation, deps.clock.now(who.instance)), client: await client(request, who) }
    })
  }

  await app.register(mine, { prefix: '/v1/me' })
  await app.register(addresses, { prefix: '/v1/me/email_addresses' })
  await app.register(clientInvite, { prefix: '/v1/organizations/:organization_id/invitations' })
}
