import type { Db, Queryable } from '../platform/db/db.js'
import type { Clock } from '../platform/clock.js'
import { ApiError, paramError } from '../platform/errors.js'
import type { Instance } from '../instance/instance.schemas.js'
import type { UserRow } from '../users/users.store.js'
import type { OrgInvitationStore } from '../organizations/org-invitations.store.js'
import { orgInvitationEvent, type OrgInvitationService } from '../organizations/org-invitations.service.js'
import { effectiveOrgInvitationStatus, type OrgInvitationStatus, type OrgInvitationView } from '../organizations/org-invitations.schemas.js'
import type { MembershipService } from '../organizations/memberships.service.js'
import type { MembershipDetails } from '../organizations/memberships.schemas.js'
import type { DomainStore, SuggestionView } from '../organizations/domains.store.js'
import type { OrganizationStore } from '../organizations/organizations.store.js'
import type { OutboxStore } from '../platform/outbox/outbox.store.js'
import { newId } from '../platform/ids.js'
import type { SignedIn, TicketState } from './accept.types.js'

/** What acceptance needs of organizations, invitations into them and the domains that suggest them. */
export interface OrganizationDeps {
  invitations: OrgInvitationStore
  /** Creates invitations (client-side invites go through the Backend API's rules). */
  invitationService: Pick<OrgInvitationService, 'create'>
  memberships: Pick<MembershipService, 'addInTransaction' | 'listForUser'>
  /** Every writer locks the organization's row before its invitations' rows, acceptance included. */
  organizations: Pick<OrganizationStore, 'lockById'>
  /** Makes the organization a session's active one: its tokens then carry it (`o`), so the application sees orgId and orgRole. */
  activateOrganization?: (tx: Queryable, instanceId: string, sessionId: string, organizationId: string) => Promise<void>
  /** Verified domains' suggestions; the stateless store when not given. */
  domains?: Pick<DomainStore, 'pendingSuggestions' | 'setSuggestionStatus'>
}

/** An accepted organization invitation, and the membership it made (null: the person was a member already). */
export interface JoinedOrganization {
  invitation: OrgInvitationView
  membership: MembershipDetails | null
}

/**
 * Marks the invitation accepted by `userId` inside `tx`, queuing `organizationInvitation.accepted`
 * with it. Null when it is no longer pending and unexpired: of two acceptances racing, exactly
 * one gets the row (the guarded update waits on the other's row lock, then matches nothing).
 */
export async function markAccepted(deps: Pick<OrganizationDeps, 'invitations' | 'organizations'>, clock: Clock, tx: Queryable,
  instance: Instance, invitation: OrgInvitationView, userId: string, now: number): Promise<OrgInvitationView | null> {
  // The organization's row first, in the order invites and membership changes take their
  // locks: the invitation's row first could deadlock with a new invitation to the address
  // (which locks the organization, then expires this row if it is stale).
  await deps.organizations.lockById(tx, instance.id, invitation.organization_id)
  const after: OrgInvitationView = { ...invitation, status: 'accepted', accepted_by_user_id: userId, updated_at: now }
  const row = await deps.invitations.accept(tx, instance.id, invitation.id, invitation.ticket_hash, userId, now, clock.now(),
    [orgInvitationEvent('organizationInvitation.accepted', instance, after, now)])
  return row && { ...invitation, ...row }
}

/**
 * Makes the user a member with the invited role inside `tx`, the invitation's public and
 * private metadata becoming the membership's, and queues `organizationMembership.created`.
 * Call it after markAccepted: the invitation's seat then moves from pending to member, so an
 * organization at its max_allowed_memberships still has room for the person it invited.
 *
 * Someone who became a member meanwhile (added through the Backend API) keeps their
 * membership as it is (null): the invitation has done its job and is accepted all the same.
 */
export async function addMember(deps: Pick<OrganizationDeps, 'memberships'>, tx: Queryable, instance: Instance,
  invitation: OrgInvitationView, userId: string, now: number): Promise<MembershipDetails | null> {
  try {
    return await deps.memberships.addInTransaction(tx, instance, {
      organizationId: invitation.organization_id, userId, role: invitation.role,
      publicMetadata: invitation.public_metadata, privateMetadata: invitation.private_metadata,
    }, now)
  } catch (err) {
    // Checked (and refused) before any insert, so the transaction is still usable.
    if (err instanceof ApiError && err.code === 'already_a_member_in_organization') return null
    throw err
  }
}

/** markAccepted, then addMember, in `tx`; null when the invitation was no longer pending. */
export async function joinInTransaction(deps: Pick<OrganizationDeps, 'invitations' | 'memberships' | 'organizations'>, clock: Clock, tx: Queryable,
  instance: Instance, invitation: OrgInvitationView, userId: string, now: number): Promise<JoinedOrganization | null> {
  const accepted = await markAccepted(deps, clock, tx, instance, invitation, userId, now)
  if (!accepted) return null
  return { invitation: accepted, membership: await addMember(deps, tx, instance, invitation, userId, now) }
}

const notPending = (status: OrgInvitationStatus) =>
  new ApiError(422, 'organization_invitation_not_pending', 'not pending',
    `The organization invitation is not in the 'pending' status; it is ${status}.`)
const invitationNotFound = (id: string) =>
  new ApiError(404, 'organization_invitation_not_found', 'not found', `No invitation found with id ${id}.`)
const otherAccount = () => paramError(403, 'not_allowed_access', 'ticket', 'This invitation is for another account.',
  'This invitation was sent to another email address; sign in as that address to accept it.')

/** Which invitation a signed-in person answers: the one a link's ticket names, or one of theirs by id. */
export type InvitationRef = { ticket: string } | { invitationId: string }

interface Deps extends Omit<OrganizationDeps, 'domains'> {
  domains: Pick<DomainStore, 'pendingSuggestions' | 'setSuggestionStatus'>
  db: Db
  clock: Clock
  outbox: OutboxStore
  resolveTicket: (ticket: string) => Promise<TicketState>
}

/** The addresses a signed-in person has proved: only those collect invitations by id. */
const verifiedEmails = (user: UserRow) => user.email_addresses.filter((e) => e.verified_at !== null).map((e) => e.email_address)

/** Whether the address an invitation of their instance was sent to is any of the signed-in person's verified ones, as Clerk matches. */
export const isInvitee = (signedIn: SignedIn, instanceId: string, emailAddress: string) =>
  signedIn.instance.id === instanceId && verifiedEmails(signedIn.user).includes(emailAddress)

/**
 * What a signed-in person does with organization invitations (hosted `/accept` and the
 * Frontend API's `/v1/me/…`): see them, accept or decline them, answer domain suggestions,
 * and invite others where their role allows it.
 */
export function createOrgAcceptService(deps: Deps) {
  const { db, clock } = deps

  /**
   * The pending invitation `ref` names, if it is the signed-in person's. A ticket for another
   * address is 403 (the link was forwarded, or the wrong account is signed in); an id that is
   * not theirs is 404, as if it did not exist.
   */
  async function findOwn(signedIn: SignedIn, ref: InvitationRef): Promise<OrgInvitationView> {
    const now = clock.now(signedIn.instance)
    let invitation: OrgInvitationView
    if ('ticket' in ref) {
      const state = await deps.resolveTicket(ref.ticket)
      if (state.kind === 'unknown' || state.target !== 'organization') {
        throw paramError(400, 'ticket_invalid', 'ticket', 'is invalid', 'This is not a valid organization invitation link.')
      }
      if (!isInvitee(signedIn, state.instance.id, state.invitation.email_address)) throw otherAccount()
      invitation = state.invitation
    } else {
      const found = await deps.invitations.findById(db, signedIn.instance.id, ref.invitationId)
      if (!found || !verifiedEmails(signedIn.user).includes(found.email_address)) throw invitationNotFound(ref.invitationId)
      invitation = found
    }
    const status = effectiveOrgInvitationStatus(invitation, now)
    if (status !== 'pending') throw notPending(status)
    return invitation
  }

  return {
    findOwn,

    /**
     * Accepts the person's invitation: they become a member with the invited role (see
     * joinInTransaction). Refused when it is not theirs (403/404) or no longer pending (422
     * organization_invitation_not_pending).
     */
    async accept(signedIn: SignedIn, ref: InvitationRef): Promise<JoinedOrganization> {
      const invitation = await findOwn(signedIn, ref)
      const now = clock.now(signedIn.instance)
      return db.transaction(async (tx) => {
        const joined = await joinInTransaction(deps, clock, tx, signedIn.instance, invitation, signedIn.user.id, now)
        if (joined) {
          await deps.activateOrganization?.(tx, signedIn.instance.id, signedIn.session.id, invitation.organization_id)
          return joined
        }
        const current = await deps.invitations.findById(tx, signedIn.instance.id, invitation.id)
        throw notPending(current ? effectiveOrgInvitationStatus(current, now) : 'revoked')
      })
    },

    /**
     * Declines the person's invitation (a Foyer extension: Clerk has no such status) and
     * queues `organizationInvitation.declined`, so that the inviting application hears of it.
     * Its link stops working; the organization may invite the address again.
     */
    async decline(signedIn: SignedIn, ref: InvitationRef): Promise<OrgInvitationView> {
      const invitation = await findOwn(signedIn, ref)
      const { instance } = signedIn
      const now = clock.now(instance)
      const after: OrgInvitationView = { ...invitation, status: 'declined', updated_at: now }
      const row = await deps.invitations.decline(db, instance.id, invitation.id, now, clock.now(),
        [orgInvitationEvent('organizationInvitation.declined', instance, after, now)])
      if (!row) {
        const current = await deps.invitations.findById(db, instance.id, invitation.id)
        throw notPending(current ? effectiveOrgInvitationStatus(current, now) : 'revoked')
      }
      return { ...invitation, ...row }
    },

    /** What waits for the person: usable invitations to their verified addresses, and pending domain suggestions. */
    async pending(signedIn: SignedIn): Promise<{ invitations: OrgInvitationView[]; suggestions: SuggestionView[] }> {
      const { instance, user } = signedIn
      const invitations = await deps.invitations.listPendingForEmails(db, instance.id, verifiedEmails(user), clock.now(instance))
      const suggestions = await deps.domains.pendingSuggestions(db, instance.id, user.id)
      return { invitations, suggestions }
    },

    /** The person's memberships (Frontend API `/v1/me/organization_memberships`), newest first. */
    memberships: (signedIn: SignedIn, page: { limit: number; offset: number }) =>
      deps.memberships.listForUser(signedIn.instance, signedIn.user.id, page),

    /** The person's invitations in any status (Frontend API list), newest first. */
    async list(signedIn: SignedIn, query: { statuses: OrgInvitationStatus[] | null; limit: number; offset: number }) {
      const { instance, user } = signedIn
      return deps.invitations.page(db, {
        instanceId: instance.id, organizationId: null, emails: verifiedEmails(user), userId: null, statuses: query.statuses,
        emailAddress: null, query: null, manualOnly: false, orderBy: { column: 'created_at', descending: true },
        limit: query.limit, offset: query.offset, now: clock.now(instance),
      })
    },

    /**
     * Answers a verified domain's suggestion: 'accepted' asks to join, and queues
     * `organizationSuggestion.accepted` (Foyer's) so that the application can bring the
     * request to the organization's admins; 'dismissed' hides it. Only the person's own
     * pending suggestion changes (404 otherwise).
     */
    async answerSuggestion(signedIn: SignedIn, id: string, answer: 'accepted' | 'dismissed'): Promise<SuggestionView> {
      const { instance, user } = signedIn
      const now = clock.now(instance)
      const current = (await deps.domains.pendingSuggestions(db, instance.id, user.id)).find((s) => s.id === id)
      const row = current && await db.transaction(async (tx) => {
        const changed = await deps.domains.setSuggestionStatus(tx, instance.id, user.id, id, answer, now)
        if (changed && answer === 'accepted') {
          const type = 'organizationSuggestion.accepted'
          const data = {
            object: 'organization_suggestion', id, status: 'accepted', organization_id: current.organization_id, user_id: user.id,
            email_address: current.email_address, created_at: current.created_at, updated_at: now,
          }
          await deps.outbox.enqueue(tx, [{
            id: newId('msg', now), instanceId: instance.id, kind: 'webhook', topic: type, subjectId: user.id,
            payload: { data, object: 'event', type, timestamp: now, instance_id: instance.id }, nextAttemptAt: clock.now(),
          }], clock.now())
        }
        return changed
      })
      if (!current || !row) throw new ApiError(404, 'resource_not_found', 'not found', 'No pending organization suggestion was found with this id.')
      return { ...current, ...row, organization_name: current.organization_name, organization_slug: current.organization_slug }
    },

    /**
     * Invites someone from the client side: the signed-in person is the inviter, so the
     * Backend API's rules apply to them (a member holding `org:sys_memberships:manage`, 403
     * otherwise). Such invitations carry no redirect URL: their links lead to the hosted pages.
     */
    invite(signedIn: SignedIn, organizationId: string, body: { email_address: string; role: string; notify?: boolean | null }) {
      return deps.invitationService.create(signedIn.instance, organizationId, {
        email_address: body.email_address, role: body.role, inviter_user_id: signedIn.user.id, notify: body.notify ?? true,
      })
    },
  }
}

export type OrgAcceptService = ReturnType<typeof createOrgAcceptService>
