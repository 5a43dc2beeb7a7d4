import type { Db, Queryable } from '../platform/db/db.js'
import type { Clock } from '../platform/clock.js'
import { newId } from '../platform/ids.js'
import { ApiError, notFound, paramError } from '../platform/errors.js'
import { checkMetadataSize } from '../platform/validation.js'
import type { OutboxStore } from '../platform/outbox/outbox.store.js'
import type { Instance } from '../instance/instance.schemas.js'
import type { UserStore } from '../users/users.store.js'
import { membershipEvent, type MembershipEventType } from './organizations.events.js'
import { mergeMetadata, type OrganizationRow } from './organizations.schemas.js'
import { MANAGE_MEMBERSHIPS, type OrganizationStore } from './organizations.store.js'
import { MEMBERSHIP_ORDER_COLUMNS, type MembershipFilter, type MembershipOrderColumn, type MembershipStore } from './memberships.store.js'
import type { RoleStore } from './roles.store.js'
import type {
  CreateMembershipBody, InstanceMembershipsQuery, ListMembershipsQuery, MembershipDetails, MembershipMetadataBody, PageQuery, UpdateMembershipBody,
} from './memberships.schemas.js'

interface Deps {
  db: Db
  clock: Clock
  store: MembershipStore
  organizations: OrganizationStore
  roles: RoleStore
  users: UserStore
  outbox: OutboxStore
}

/** What a new membership is made of, whoever adds it (the Backend API, an accepted invitation, a creator). */
export interface NewMembership {
  organizationId: string
  userId: string
  role: string
  publicMetadata?: Record<string, unknown>
  privateMetadata?: Record<string, unknown>
}

const ORDER_BY = new RegExp(`^([+-]?)(${MEMBERSHIP_ORDER_COLUMNS.join('|')})$`)
const MAX_VALUES = 100
const FOREIGN_KEY_VIOLATION = '23503'

const list = (value: string | string[] | undefined) => (value === undefined ? [] : [value].flat())
const text = (value: string | undefined) => (value?.trim() ? value.trim() : null)

function values(query: ListMembershipsQuery, param: 'user_id' | 'email_address' | 'role'): string[] {
  const all = list(query[param]).map((v) => v.trim()).filter(Boolean)
  if (all.length > MAX_VALUES) {
    throw paramError(422, 'form_param_value_invalid', param, 'too many values', `${param} accepts at most ${MAX_VALUES} values.`)
  }
  return all
}

const minimumPermissions = () =>
  new ApiError(422, 'organization_minimum_permissions_needed', 'There has to be at least one organization member with the administrator role.',
    `An organization keeps at least one member holding ${MANAGE_MEMBERSHIPS}: give that permission to another member first, or delete the organization.`)

export function createMembershipService({ db, clock, store, organizations, roles, users, outbox }: Deps) {
  const queue = (tx: Queryable, type: MembershipEventType, details: MembershipDetails, now: number) =>
    outbox.enqueue(tx, [membershipEvent(type, details, now, clock.now())], clock.now())

  /** The role, or a 422 naming `param`; its permissions decide what the member may do. */
  async function roleOrFail(q: Queryable, instanceId: string, key: string, param = 'role') {
    // Shared until commit, so that the role cannot be renamed or deleted under the membership.
    const role = await roles.findByKeyForShare(q, instanceId, key)
    if (!role) {
      throw paramError(422, 'form_param_value_invalid', param, 'is invalid', `${param} must be an existing organization role; ${key} is not one.`)
    }
    return role
  }

  async function lockedOrganization(tx: Queryable, instanceId: string, organizationId: string): Promise<OrganizationRow> {
    const org = await organizations.lockById(tx, instanceId, organizationId)
    if (!org) throw notFound('organization')
    return org
  }

  /**
   * Refuses (403 organization_membership_quota_exceeded) when `adding` more seats would take
   * the organization past max_allowed_memberships (0: no limit). Seats are members plus
   * pending, unexpired invitations. Call with the organization's row locked (lockById).
   */
  async function ensureCapacity(tx: Queryable, org: OrganizationRow, now: number, adding = 1): Promise<void> {
    if (org.max_allowed_memberships <= 0) return
    const taken = await store.countSeats(tx, org.id, now)
    if (taken + adding > org.max_allowed_memberships) {
      throw new ApiError(403, 'organization_membership_quota_exceeded', 'Membership quota exceeded.',
        `The organization allows ${org.max_allowed_memberships} memberships, including pending invitations; ${taken} are taken.`,
        { max_allowed_memberships: org.max_allowed_memberships })
    }
  }

  /** Whether someone other than `userId` still holds MANAGE_MEMBERSHIPS in the organization. */
  async function anotherManager(tx: Queryable, instanceId: string, organizationId: string, userId: string): Promise<boolean> {
    return (await store.holders(tx, instanceId, organizationId, MANAGE_MEMBERSHIPS)).some((id) => id !== userId)
  }

  async function detailsOrFail(q: Queryable, instanceId: string, organizationId: string, userId: string): Promise<MembershipDetails> {
    const details = await store.findDetails(q, instanceId, organizationId, userId)
    if (!details) throw notFound('organization membership')
    return details
  }

  /**
   * Adds `userId` to the organization inside the caller's transaction `tx` and queues
   * `organizationMembership.created` in it. Locks the organization's row first, so that
   * concurrent adds and invitations cannot exceed max_allowed_memberships. Refuses: no such
   * organization (404), no such user (404, `user_id`), no such role (422, `role`), quota
   * reached (403), already a member (400 already_a_member_in_organization). An accepted
   * invitation must be marked accepted first in `tx`: its seat then moves from pending to member.
   * Callers that change other rows of the organization in `tx` take `organizations.lockById`
   * before them: one lock order (the organization's row first) for every writer, so no deadlock.
   */
  async function addInTransaction(tx: Queryable, instance: Instance, input: NewMembership, now: number): Promise<MembershipDetails> {
    const org = await lockedOrganization(tx, instance.id, input.organizationId)
    await roleOrFail(tx, instance.id, input.role)
    if (!await users.findById(tx, instance.id, input.userId)) {
      throw paramError(404, 'resource_not_found', 'user_id', 'not found', `No user with id ${input.userId} exists in this instance.`)
    }
    const alreadyMember = () => paramError(400, 'already_a_member_in_organization', 'user_id', 'already a member',
      `User ${input.userId} is already a member of organization ${org.id}.`)
    if (await store.find(tx, org.id, input.userId)) throw alreadyMember()
    await ensureCapacity(tx, org, now)
    let row
    try {
      row = await store.insert(tx, {
        id: newId('orgmem', now), instance_id: instance.id, organization_id: org.id, user_id: input.userId, role: input.role,
        public_metadata: input.publicMetadata ?? {}, private_metadata: input.privateMetadata ?? {}, created_at: now, updated_at: now,
      })
    } catch (err) {
      // The user was deleted since we looked.
      if ((err as { code?: string }).code === FOREIGN_KEY_VIOLATION) throw notFound('user')
      throw err
    }
    if (!row) throw alreadyMember()
    const details = (await store.findDetails(tx, instance.id, org.id, input.userId))!
    await queue(tx, 'organizationMembership.created', details, now)
    return details
  }

  /** The metadata given (null or absent: unchanged), each checked against the size limit. */
  function metadataOf(body: { public_metadata?: object | null; private_metadata?: object | null }) {
    const out: { public_metadata?: Record<string, unknown>; private_metadata?: Record<string, unknown> } = {}
    if (body.public_metadata != null) checkMetadataSize(out.public_metadata = body.public_metadata as Record<string, unknown>, 'public_metadata')
    if (body.private_metadata != null) checkMetadataSize(out.private_metadata = body.private_metadata as Record<string, unknown>, 'private_metadata')
    return out
  }

  return {
    addInTransaction,
    ensureCapacity,

    /** Whether the user is a member of the organization whose role holds `permission`. */
    hasPermission: (q: Queryable, instanceId: string, organizationId: string, userId: string, permission: string) =>
      store.hasPermission(q, instanceId, organizationId, userId, permission),

    async create(instance: Instance, organizationId: string, body: CreateMembershipBody): Promise<MembershipDetails> {
      const metadata = metadataOf(body)
      const now = clock.now(instance)
      return db.transaction((tx) => addInTransaction(tx, instance, {
        organizationId, userId: body.user_id, role: body.role, publicMetadata: metadata.public_metadata, privateMetadata: metadata.private_metadata,
      }, now))
    },

    async list(instance: Instance, organizationId: string, query: ListMembershipsQuery): Promise<{ data: MembershipDetails[]; totalCount: number }> {
      const order = ORDER_BY.exec(query.order_by?.trim() || '-created_at')
      if (!order) {
        throw paramError(422, 'form_param_value_invalid', 'order_by', 'is invalid',
          `order_by must be one of ${MEMBERSHIP_ORDER_COLUMNS.join(', ')}, optionally prefixed with + or -.`)
      }
      const ids = values(query, 'user_id')
      const included = ids.filter((id) => !id.startsWith('-')).map((id) => id.replace(/^\+/, ''))
      const filter: MembershipFilter = {
        instanceId: instance.id,
        organizationId,
        userId: null,
        includeUserIds: included.length > 0 ? included : null,
        excludeUserIds: ids.filter((id) => id.startsWith('-')).map((id) => id.slice(1)),
        emailAddresses: query.email_address === undefined ? null : values(query, 'email_address').map((e) => e.toLowerCase()),
        roles: query.role === undefined ? null : values(query, 'role'),
        query: text(query.query),
        emailAddressQuery: text(query.email_address_query),
        nameQuery: text(query.name_query),
        userCreatedBefore: query.created_at_before ?? null,
        userCreatedAfter: query.created_at_after ?? null,
      }
      if (!await organizations.findById(db, instance.id, organizationId)) throw notFound('organization')
      const { rows, total } = await store.page(db, filter, { column: order[2] as MembershipOrderColumn, descending: order[1] === '-' }, query.limit ?? 10, query.offset ?? 0)
      return { data: rows, totalCount: total }
    },

    /** Every membership of the instance, in every organization (newest first by default). */
    async listInstance(instance: Instance, query: InstanceMembershipsQuery): Promise<{ data: MembershipDetails[]; totalCount: number }> {
      const order = ORDER_BY.exec(query.order_by?.trim() || '-created_at')
      if (!order) {
        throw paramError(422, 'form_param_value_invalid', 'order_by', 'is invalid',
          `order_by must be one of ${MEMBERSHIP_ORDER_COLUMNS.join(', ')}, optionally prefixed with + or -.`)
      }
      const filter: MembershipFilter = {
        instanceId: instance.id, organizationId: null, userId: null, includeUserIds: null, excludeUserIds: [], emailAddresses: null, roles: null,
        query: null, emailAddressQuery: null, nameQuery: null, userCreatedBefore: null, userCreatedAfter: null,
      }
      const { rows, total } = await store.page(db, filter, { column: order[2] as MembershipOrderColumn, descending: order[1] === '-' }, query.limit ?? 10, query.offset ?? 0)
      return { data: rows, totalCount: total }
    },

    /** The user's memberships, newest first. */
    async listForUser(instance: Instance, userId: string, query: PageQuery): Promise<{ data: MembershipDetails[]; totalCount: number }> {
      if (!await users.findById(db, instance.id, userId)) throw notFound('user')
      const filter: MembershipFilter = {
        instanceId: instance.id, organizationId: null, userId, includeUserIds: null, excludeUserIds: [], emailAddresses: null, roles: null,
        query: null, emailAddressQuery: null, nameQuery: null, userCreatedBefore: null, userCreatedAfter: null,
      }
      const { rows, total } = await store.page(db, filter, { column: 'created_at', descending: true }, query.limit ?? 10, query.offset ?? 0)
      return { data: rows, totalCount: total }
    },

    /**
     * Changes the member's role (and metadata, when given) and queues
     * `organizationMembership.updated`. Taking MANAGE_MEMBERSHIPS from its last holder is refused (422).
     */
    async update(instance: Instance, organizationId: string, userId: string, body: UpdateMembershipBody): Promise<MembershipDetails> {
      const metadata = metadataOf(body)
      const now = clock.now(instance)
      return db.transaction(async (tx) => {
        await lockedOrganization(tx, instance.id, organizationId)
        const current = await detailsOrFail(tx, instance.id, organizationId, userId)
        const role = await roleOrFail(tx, instance.id, body.role)
        const losesManage = current.permissions.includes(MANAGE_MEMBERSHIPS) && !role.permissions.includes(MANAGE_MEMBERSHIPS)
        if (losesManage && !await anotherManager(tx, instance.id, organizationId, userId)) throw minimumPermissions()
        await store.update(tx, instance.id, organizationId, userId, { role: role.key, ...metadata }, now)
        const details = (await store.findDetails(tx, instance.id, organizationId, userId))!
        await queue(tx, 'organizationMembership.updated', details, now)
        return details
      })
    },

    /** Deep-merges metadata into the membership's (a key set to null is removed) and queues `organizationMembership.updated`. */
    async updateMetadata(instance: Instance, organizationId: string, userId: string, body: MembershipMetadataBody): Promise<MembershipDetails> {
      const now = clock.now(instance)
      return db.transaction(async (tx) => {
        // Read-merge-write: the lock keeps two merges from losing one another's keys.
        await lockedOrganization(tx, instance.id, organizationId)
        const current = await detailsOrFail(tx, instance.id, organizationId, userId)
        const merged = metadataOf({
          public_metadata: body.public_metadata == null ? null : mergeMetadata(current.public_metadata, body.public_metadata as Record<string, unknown>),
          private_metadata: body.private_metadata == null ? null : mergeMetadata(current.private_metadata, body.private_metadata as Record<string, unknown>),
        })
        await store.update(tx, instance.id, organizationId, userId, merged, now)
        const details = (await store.findDetails(tx, instance.id, organizationId, userId))!
        await queue(tx, 'organizationMembership.updated', details, now)
        return details
      })
    },

    /**
     * Removes the member and queues `organizationMembership.deleted` with the membership as it
     * was. Removing the last holder of MANAGE_MEMBERSHIPS is refused (422).
     */
    async remove(instance: Instance, organizationId: string, userId: string): Promise<MembershipDetails> {
      const now = clock.now(instance)
      return db.transaction(async (tx) => {
        await lockedOrganization(tx, instance.id, organizationId)
        const current = await detailsOrFail(tx, instance.id, organizationId, userId)
        if (current.permissions.includes(MANAGE_MEMBERSHIPS) && !await anotherManager(tx, instance.id, organizationId, userId)) {
          throw minimumPermissions()
        }
        await store.remove(tx, instance.id, organizationId, userId)
        await queue(tx, 'organizationMembership.deleted', current, now)
        return current
      })
    },
  }
}

export type MembershipService = ReturnType<typeof createMembershipService>
