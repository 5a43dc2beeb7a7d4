import { isUniqueViolation, type Db, type Queryable } from '../platform/db/db.js'
import { DAY_MS, type Clock } from '../platform/clock.js'
import { newId } from '../platform/ids.js'
import { ApiError, paramError } from '../platform/errors.js'
import { checkMetadataSize, checkRedirectUrl, normalizeEmail } from '../platform/validation.js'
import { redirectOriginsOf, type Instance } from '../instance/instance.schemas.js'
import type { TicketService } from '../tickets/tickets.service.js'
import type { InviteRefusal, OrgInvitationFilter, OrgInvitationStore } from './org-invitations.store.js'
import type { OutboxItem } from '../platform/outbox/outbox.store.js'
import type { RestrictionStore } from '../restrictions/restrictions.store.js'
import { refuseBlocked } from '../restrictions/restrictions.service.js'
import {
  toClerkOrganizationInvitation, type CreateOrgInvitationBody, type ListInstanceOrgInvitationsQuery, type ListOrgInvitationsQuery,
  type ListPendingOrgInvitationsQuery, type ListUserOrgInvitationsQuery, type OrgInvitationRow, type OrgInvitationStatus,
  type OrgInvitationView, type RevokeOrgInvitationBody,
} from './org-invitations.schemas.js'

interface Deps {
  db: Db
  clock: Clock
  store: OrgInvitationStore
  tickets: TicketService
  allowedRedirectOrigins: readonly string[]
  restrictions: RestrictionStore
}

export interface CreateOrgInvitationOptions {
  /** Make the invitation part of the caller's transaction. */
  q?: Queryable
  /**
   * 'domain': a verified domain's automatic invitation (left out of the organization's lists, as Clerk does);
   * 'link': one an invitation link issued to an address it proved (left out as well).
   */
  source?: 'manual' | 'domain' | 'link'
  /** false: no email, whatever the body says. */
  notify?: boolean
}

export type OrgInvitationEventType =
  | 'organizationInvitation.created' | 'organizationInvitation.accepted'
  | 'organizationInvitation.revoked' | 'organizationInvitation.declined' | 'organizationInvitation.expired'

interface ValidOrgInvitation {
  emailAddress: string
  role: string
  inviterUserId: string | null
  publicMetadata: Record<string, unknown>
  privateMetadata: Record<string, unknown>
  redirectUrl: string | null
  expiresInDays: number
  notify: boolean
}

const MANAGE = 'org:sys_memberships:manage'
const ORDER_BY = /^([+-]?)(created_at|email_address)$/

export const orgNotFound = () => new ApiError(404, 'resource_not_found', 'not found', 'Given organization not found.')
const invitationNotFound = (id: string) =>
  new ApiError(404, 'organization_invitation_not_found', 'not found', `No invitation found with id ${id}.`)
const notUnique = (email: string, param: string) =>
  new ApiError(400, 'organization_invitation_not_unique', 'organization invitation not unique',
    `Organizations cannot have duplicate pending invitations for an email address; ${email} already has one.`, { param_name: param })

/**
 * A webhook event about an organization invitation, with Clerk's OrganizationInvitation as
 * `data`, for the outbox of the transaction that changes it. `row` is the invitation as it is
 * after the change (status, updated_at, accepted_by_user_id). `url` is left out: it carries the
 * ticket, which the database must not hold; delivery derives it again from the row's nonce.
 */
export function orgInvitationEvent(type: OrgInvitationEventType, instance: { id: string }, row: OrgInvitationView, now: number): OutboxItem {
  const { url: _url, ...invitation } = toClerkOrganizationInvitation(row, now, null)
  // Clerk's accepted payload names who accepted.
  const data = type === 'organizationInvitation.accepted' && row.accepted_by_user_id
    ? { ...invitation, user_id: row.accepted_by_user_id }
    : invitation
  return {
    id: newId('msg', now),
    kind: 'webhook',
    topic: type,
    payload: { data, object: 'event', type, timestamp: now, instance_id: instance.id },
  }
}

/** The email item of an organization invitation; its link and names are read again at send time. */
const emailItem = (row: Pick<OrgInvitationRow, 'id' | 'email_address'>, now: number): OutboxItem => ({
  id: newId('msg', now),
  kind: 'email',
  topic: 'organization_invitation',
  payload: { invitation_id: row.id, to: row.email_address, template_slug: 'organization_invitation' },
})

const statuses = (value: OrgInvitationStatus | OrgInvitationStatus[] | undefined): OrgInvitationStatus[] | null =>
  value === undefined ? null : [value].flat()

function orderOf(value: string | undefined): OrgInvitationFilter['orderBy'] {
  const order = ORDER_BY.exec(value ?? '-created_at')
  if (!order) {
    throw paramError(422, 'form_param_value_invalid', 'order_by', 'is invalid',
      'order_by must be created_at or email_address, optionally prefixed with + or -.')
  }
  return { column: order[2] as 'created_at' | 'email_address', descending: order[1] === '-' }
}

export function createOrgInvitationService({ db, clock, store, tickets, allowedRedirectOrigins, restrictions }: Deps) {
  /** Checks one create body; `index` prefixes parameter names for bulk items (`[3].email_address`). */
  function validate(instance: Instance, body: CreateOrgInvitationBody, options: CreateOrgInvitationOptions, index?: number): ValidOrgInvitation {
    const name = (param: string) => (index === undefined ? param : `[${index}].${param}`)
    const publicMetadata = (body.public_metadata ?? {}) as Record<string, unknown>
    const privateMetadata = (body.private_metadata ?? {}) as Record<string, unknown>
    checkMetadataSize(publicMetadata, name('public_metadata'))
    checkMetadataSize(privateMetadata, name('private_metadata'))
    const role = body.role.trim()
    if (role === '') throw paramError(422, 'form_param_missing', name('role'), 'is missing', `${name('role')} must name a role, e.g. org:member.`)
    return {
      emailAddress: normalizeEmail(body.email_address, name('email_address')),
      role,
      inviterUserId: options.source === 'domain' || options.source === 'link' ? null : (body.inviter_user_id?.trim() || null),
      publicMetadata,
      privateMetadata,
      redirectUrl: body.redirect_url ? checkRedirectUrl(body.redirect_url, redirectOriginsOf(instance, allowedRedirectOrigins), name('redirect_url')) : null,
      expiresInDays: body.expires_in_days ?? 30,
      notify: options.notify ?? body.notify ?? true,
    }
  }

  /** The inviter or requester must be a member holding `org:sys_memberships:manage` (Clerk's 403s). */
  function requireManager(who: { permissions: string[] } | null, userId: string, param: string): void {
    if (!who || !who.permissions.includes(MANAGE)) throw managerError(who !== null, userId, param)
  }

  function managerError(isMember: boolean, userId: string, param: string): ApiError {
    return isMember
      ? new ApiError(403, 'missing_organization_permission', 'missing permission',
        `User ${userId} is missing the organization permission ${MANAGE}.`, { param_name: param, permissions: [MANAGE] })
      : new ApiError(403, 'not_a_member_in_organization', 'not a member',
        `User ${userId} is not a member of the organization. Only organization members can perform this action.`, { param_name: param })
  }

  /**
   * Creates one invitation with its event (and email): refuses early from an unlocked read,
   * then insert_organization_invitation checks every rule again under the organization's lock
   * and inserts, in one round trip. Refusals keep Clerk's order: inviter, role, member,
   * duplicate, seats.
   */
  async function insertOne(q: Queryable, instance: Instance, organizationId: string, input: ValidOrgInvitation,
    source: 'manual' | 'domain' | 'link', now: number, index?: number): Promise<OrgInvitationView> {
    const name = (param: string) => (index === undefined ? param : `[${index}].${param}`)
    const described = await store.describeInvite(q, { instanceId: instance.id, organizationId, role: input.role, inviterUserId: input.inviterUserId })
    const refuse = (refusal: InviteRefusal, limit: number | null = null): never => {
      switch (refusal) {
        case 'organization_not_found': throw orgNotFound()
        case 'inviter_not_member': throw managerError(false, input.inviterUserId!, name('inviter_user_id'))
        case 'inviter_missing_permission': throw managerError(true, input.inviterUserId!, name('inviter_user_id'))
        case 'role_not_found':
          throw new ApiError(404, 'resource_not_found', 'not found', `Organization role ${input.role} not found.`, { param_name: name('role') })
        case 'already_member':
          throw new ApiError(400, 'already_a_member_in_organization', 'already a member',
            `${input.emailAddress} is already a member of the organization.`, { param_name: name('email_address') })
        case 'not_unique': throw notUnique(input.emailAddress, name('email_address'))
        case 'retry': throw new Error('insert_organization_invitation asked to run again twice')
        case 'quota_exceeded':
          throw new ApiError(403, 'organization_membership_quota_exceeded', 'organization membership quota exceeded',
            `You have reached your limit of ${limit} organization memberships, including outstanding invitations.`)
      }
    }
    if (!described.organization) refuse('organization_not_found')
    await refuseBlocked(q, restrictions, instance.id, input.emailAddress, 422, name('email_address'))
    if (input.inviterUserId !== null) requireManager(described.inviter, input.inviterUserId, name('inviter_user_id'))
    if (described.role_name === null) refuse('role_not_found')

    const id = newId('orginv', now)
    const ticket = tickets.issue(id)
    const row: OrgInvitationRow = {
      id, instance_id: instance.id, organization_id: organizationId, email_address: input.emailAddress, role: input.role,
      inviter_user_id: input.inviterUserId, public_metadata: input.publicMetadata, private_metadata: input.privateMetadata,
      redirect_url: input.redirectUrl, status: 'pending', source, notify: input.notify,
      ticket_nonce: ticket.nonce, ticket_hash: ticket.hash, expires_at: now + input.expiresInDays * DAY_MS,
      accepted_by_user_id: null, created_at: now, updated_at: now,
    }
    const view: OrgInvitationView = {
      ...row, role_name: described.role_name!, inviter_found: described.inviter !== null,
      inviter_first_name: described.inviter?.first_name ?? null, inviter_last_name: described.inviter?.last_name ?? null,
      inviter_identifier: described.inviter?.identifier ?? null,
      organization_name: described.organization!.name, organization_slug: described.organization!.slug,
    }
    const outbox = [orgInvitationEvent('organizationInvitation.created', instance, view, now)]
    if (input.notify) outbox.push(emailItem(row, now))
    let result: Awaited<ReturnType<typeof store.insertChecked>>
    try {
      result = await store.insertChecked(q, row, outbox, clock.now())
      // A seat limit appeared while it ran; the second run takes the lock that counts seats.
      if ('refusal' in result && result.refusal === 'retry') result = await store.insertChecked(q, row, outbox, clock.now())
    } catch (err) {
      // Creates without a seat limit share the organization's lock: of two for one address,
      // the later one fails on the one-pending index.
      if (isUniqueViolation(err)) throw notUnique(input.emailAddress, name('email_address'))
      throw err
    }
    if ('refusal' in result) refuse(result.refusal, result.limit)
    return view
  }

  async function page(instance: Instance, filter: Omit<OrgInvitationFilter, 'instanceId' | 'now'>) {
    const { rows, total } = await store.page(db, { ...filter, instanceId: instance.id, now: clock.now(instance) })
    return { data: rows, totalCount: total }
  }

  async function requireOrganization(instance: Instance, organizationId: string): Promise<void> {
    if (!(await store.findOrganization(db, instance.id, organizationId))) throw orgNotFound()
  }

  return {
    /**
     * Creates one pending invitation with its `organizationInvitation.created` event (and its
     * email unless notify is false) in one transaction, or refuses it: 404 unknown organization
     * or role, 403 an inviter who may not invite or a full organization, 400 an address that
     * belongs to a member or already has a usable pending invitation. Creates for one
     * organization are serialised on its row, so concurrent ones never pass those checks together.
     */
    async create(instance: Instance, organizationId: string, body: CreateOrgInvitationBody, options: CreateOrgInvitationOptions = {}): Promise<OrgInvitationView> {
      const input = validate(instance, body, options)
      const now = clock.now(instance)
      // Without a caller's transaction, the insert is its own (one round trip, see insertOne).
      return insertOne(options.q ?? db, instance, organizationId, input, options.source ?? 'manual', now)
    },

    /** All or nothing: any refused item rolls the whole batch back, and the error names it (`[2].email_address`). */
    async createBulk(instance: Instance, organizationId: string, bodies: CreateOrgInvitationBody[]): Promise<OrgInvitationView[]> {
      const inputs = bodies.map((body, i) => validate(instance, body, {}, i))
      const now = clock.now(instance)
      // One transaction: the first insert locks the organization until the batch commits.
      return db.transaction(async (tx) => {
        const rows: OrgInvitationView[] = []
        for (const [i, input] of inputs.entries()) rows.push(await insertOne(tx, instance, organizationId, input, 'manual', now, i))
        return rows
      })
    },

    /** The organization's invitations made by someone (not by a verified domain), newest first by default. */
    async list(instance: Instance, organizationId: string, query: ListOrgInvitationsQuery) {
      const orderBy = orderOf(query.order_by)
      await requireOrganization(instance, organizationId)
      return page(instance, {
        organizationId, emails: null, userId: null, statuses: statuses(query.status),
        emailAddress: query.email_address?.trim() ? query.email_address.trim().toLowerCase() : null, query: null,
        manualOnly: true, orderBy, limit: query.limit ?? 10, offset: query.offset ?? 0,
      })
    },

    async listPending(instance: Instance, organizationId: string, query: ListPendingOrgInvitationsQuery) {
      await requireOrganization(instance, organizationId)
      return page(instance, {
        organizationId, emails: null, userId: null, statuses: ['pending'], emailAddress: null, query: null,
        manualOnly: true, orderBy: { column: 'created_at', descending: true }, limit: query.limit ?? 10, offset: query.offset ?? 0,
      })
    },

    /** Every organization's invitations in the instance, domain ones included. */
    async listInstance(instance: Instance, query: ListInstanceOrgInvitationsQuery) {
      return page(instance, {
        organizationId: null, emails: null, userId: null, statuses: statuses(query.status), emailAddress: null,
        query: query.query?.trim() ? query.query.trim() : null, manualOnly: false, orderBy: orderOf(query.order_by),
        limit: query.limit ?? 10, offset: query.offset ?? 0,
      })
    },

    /** Invitations to any of the user's addresses, in every organization, newest first. */
    async listForUser(instance: Instance, userId: string, query: ListUserOrgInvitationsQuery) {
      if (!(await store.userExists(db, instance.id, userId))) {
        throw new ApiError(404, 'resource_not_found', 'not found', `No user was found with id ${userId}.`)
      }
      return page(instance, {
        organizationId: null, emails: null, userId, statuses: statuses(query.status), emailAddress: null, query: null,
        manualOnly: false, orderBy: { column: 'created_at', descending: true }, limit: query.limit ?? 10, offset: query.offset ?? 0,
      })
    },

    async get(instance: Instance, organizationId: string, id: string): Promise<OrgInvitationView> {
      const row = await store.findById(db, instance.id, id)
      if (row && row.organization_id === organizationId) return row
      if (!(await store.findOrganization(db, instance.id, organizationId))) throw orgNotFound()
      throw invitationNotFound(id)
    },

    /**
     * Only a pending, unexpired invitation can be revoked; its link stops working at once and
     * `organizationInvitation.revoked` is queued with the change. A requester must hold
     * `org:sys_memberships:manage` in the organization.
     */
    async revoke(instance: Instance, organizationId: string, id: string, body: RevokeOrgInvitationBody): Promise<OrgInvitationView> {
      const now = clock.now(instance)
      const requester = body.requesting_user_id?.trim() || null
      return db.transaction(async (tx) => {
        const current = await store.findById(tx, instance.id, id)
        if (!current || current.organization_id !== organizationId) {
          if (!(await store.findOrganization(tx, instance.id, organizationId))) throw orgNotFound()
          throw invitationNotFound(id)
        }
        if (requester !== null) {
          const described = await store.describeInvite(tx, { instanceId: instance.id, organizationId, role: current.role, inviterUserId: requester })
          requireManager(described.inviter, requester, 'requesting_user_id')
        }
        const revoked: OrgInvitationView = { ...current, status: 'revoked', updated_at: now }
        const row = await store.revoke(tx, instance.id, organizationId, id, now, clock.now(), [orgInvitationEvent('organizationInvitation.revoked', instance, revoked, now)])
        if (row) return { ...current, ...row }
        // Clerk answers this one with 404.
        throw new ApiError(404, 'organization_invitation_not_pending', 'not pending',
          `The organization invitation is not in the 'pending' status; it is ${toClerkOrganizationInvitation(current, now, null).status}.`)
      })
    },

    /** The invitation's link, derived from its current nonce. */
    url: (row: Pick<OrgInvitationRow, 'id' | 'ticket_nonce'>) => tickets.url(row),

    orgInvitationEvent,
  }
}

export type OrgInvitationService = ReturnType<typeof createOrgInvitationService>
