import { randomBytes } from 'node:crypto'
import type { Db, Queryable } from '../platform/db/db.js'
import type { Clock } from '../platform/clock.js'
import { newId } from '../platform/ids.js'
import { notFound, paramError } from '../platform/errors.js'
import { checkMetadataSize } from '../platform/validation.js'
import type { OutboxStore } from '../platform/outbox/outbox.store.js'
import type { Instance } from '../instance/instance.schemas.js'
import type { UserStore } from '../users/users.store.js'
import { organizationEvent, type OrganizationEventType } from './organizations.events.js'
import {
  mergeMetadata, type CreateOrganizationBody, type GetOrganizationQuery, type ListOrganizationsQuery, type OrganizationExtras,
  type OrganizationMetadataBody, type OrganizationRow, type UpdateOrganizationBody,
} from './organizations.schemas.js'
import type { OrganizationFilter, OrganizationListRow, OrganizationOrderColumn, OrganizationPatch, OrganizationStore } from './organizations.store.js'
import type { MembershipService } from './memberships.service.js'
import { CREATOR_ROLE } from './roles.schemas.js'

interface Deps {
  db: Db
  clock: Clock
  store: OrganizationStore
  users: UserStore
  memberships: MembershipService
  outbox: OutboxStore
}

const ORDER_BY = /^([+-]?)(created_at|name|members_count)$/
const SLUG = /^[a-z0-9-]+$/
const SLUG_MAX = 256
const MAX_VALUES = 100
// "May not contain URLs or HTML" (Clerk): no tags, no scheme-qualified or www. links.
const NAME_FORBIDDEN = /[<>]|[a-z][a-z0-9+.-]*:\/\/|\bwww\./i

/** An organization with the counts a request asked for. */
export interface OrganizationView {
  row: OrganizationRow
  extras: OrganizationExtras
}

function checkName(raw: string): string {
  const name = raw.trim()
  if (!name) throw paramError(422, 'form_param_format_invalid', 'name', 'is invalid', 'name must not be blank.')
  if (NAME_FORBIDDEN.test(name)) {
    throw paramError(422, 'form_param_format_invalid', 'name', 'is invalid', 'name may not contain URLs or HTML.')
  }
  return name
}

function checkSlug(raw: string): string {
  const slug = raw.trim()
  if (!SLUG.test(slug) || !/[a-z0-9]/.test(slug)) {
    throw paramError(422, 'form_param_format_invalid', 'slug', 'is invalid', 'slug may contain only lower-case letters, digits and dashes.')
  }
  return slug
}

/** A slug made from the name: `Acme Café, Inc.` → `acme-cafe-inc`. */
export function slugify(name: string): string {
  const base = name.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase()
    .replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 64).replace(/-+$/, '')
  return base || 'organization'
}

/** An RFC 3339 date-time as Unix ms, or a 422 naming `created_at`. */
function parseCreatedAt(raw: string | null | undefined): number | null {
  if (raw == null) return null
  const ms = /^\d{4}-\d{2}-\d{2}T/.test(raw) ? Date.parse(raw) : NaN
  if (!Number.isFinite(ms) || ms < 0) {
    throw paramError(422, 'form_param_format_invalid', 'created_at', 'is invalid', 'created_at must be an RFC 3339 date-time, e.g. 2012-10-20T07:15:20.902Z.')
  }
  return ms
}

const slugTaken = (slug: string) =>
  paramError(422, 'form_identifier_exists', 'slug', 'That slug is taken. Please try another.', `An organization with the slug ${slug} already exists in this instance.`)

const list = (value: string | string[] | undefined) => (value === undefined ? [] : [value].flat())

function plusMinus(query: ListOrganizationsQuery, param: 'user_id' | 'organization_id') {
  const all = list(query[param]).map((v) => v.trim()).filter(Boolean)
  if (all.length > MAX_VALUES) {
    throw paramError(422, 'form_param_value_invalid', param, 'too many values', `${param} accepts at most ${MAX_VALUES} values.`)
  }
  const included = all.filter((id) => !id.startsWith('-')).map((id) => id.replace(/^\+/, ''))
  return { included: included.length > 0 ? included : null, excluded: all.filter((id) => id.startsWith('-')).map((id) => id.slice(1)) }
}

export function createOrganizationService({ db, clock, store, users, memberships, outbox }: Deps) {
  const queue = (tx: Queryable, type: OrganizationEventType, row: OrganizationRow, now: number) =>
    outbox.enqueue(tx, [organizationEvent(type, row, now, clock.now())], clock.now())

  async function extrasFor(q: Queryable, row: OrganizationRow, now: number, query: GetOrganizationQuery): Promise<OrganizationExtras> {
    if (!query.include_members_count && !query.include_missing_member_with_elevated_permissions) return {}
    const counts = await store.counts(q, row.id, now)
    return toExtras(counts, query)
  }

  function toExtras(counts: Partial<OrganizationListRow>, query: GetOrganizationQuery): OrganizationExtras {
    const extras: OrganizationExtras = {}
    if (query.include_members_count) {
      extras.membersCount = Number(counts.members_count ?? 0)
      extras.pendingInvitationsCount = Number(counts.pending_invitations_count ?? 0)
    }
    if (query.include_missing_member_with_elevated_permissions) extras.missingMemberWithElevatedPermissions = counts.missing_manager === true
    return extras
  }

  return {
    /**
     * Creates the organization and queues `organization.created`; with `created_by`, that user
     * becomes its first member with the role org:admin in the same transaction (and
     * `organizationMembership.created` is queued). A slug given and taken: 422
     * form_identifier_exists; a slug made from the name gets a random suffix instead.
     */
    async create(instance: Instance, body: CreateOrganizationBody): Promise<OrganizationRow> {
      const name = checkName(body.name)
      const explicitSlug = body.slug != null ? checkSlug(body.slug) : null
      const publicMetadata = (body.public_metadata ?? {}) as Record<string, unknown>
      const privateMetadata = (body.private_metadata ?? {}) as Record<string, unknown>
      checkMetadataSize(publicMetadata, 'public_metadata')
      checkMetadataSize(privateMetadata, 'private_metadata')
      const createdAt = parseCreatedAt(body.created_at)
      const now = clock.now(instance)
      const createdBy = body.created_by?.trim() || null
      return db.transaction(async (tx) => {
        if (createdBy !== null && !await users.findById(tx, instance.id, createdBy)) {
          throw paramError(404, 'resource_not_found', 'created_by', 'not found', `No user with id ${createdBy} exists in this instance.`)
        }
        const base = explicitSlug ?? slugify(name)
        let row: OrganizationRow | null = null
        for (let attempt = 0; row === null; attempt++) {
          const slug = attempt === 0 ? base : `${base}-${randomBytes(4).toString('hex')}`
          if (slug.length > SLUG_MAX) throw paramError(422, 'form_param_max_length_exceeded', 'slug', 'is too long', `slug must be at most ${SLUG_MAX} characters.`)
          row = await store.insert(tx, {
            id: newId('org', now), instance_id: instance.id, name, slug, max_allowed_memberships: body.max_allowed_memberships ?? 0,
            admin_delete_enabled: true, public_metadata: publicMetadata, private_metadata: privateMetadata, created_by: createdBy,
            created_at: createdAt ?? now, updated_at: now,
          })
          if (row === null && (explicitSlug !== null || attempt >= 4)) throw slugTaken(slug)
        }
        await queue(tx, 'organization.created', row, now)
        if (createdBy !== null) {
          await memberships.addInTransaction(tx, instance, { organizationId: row.id, userId: createdBy, role: CREATOR_ROLE }, now)
        }
        return row
      })
    },

    async list(instance: Instance, query: ListOrganizationsQuery): Promise<{ data: OrganizationView[]; totalCount: number }> {
      const order = ORDER_BY.exec(query.order_by?.trim() || '-created_at')
      if (!order) {
        throw paramError(422, 'form_param_value_invalid', 'order_by', 'is invalid',
          'order_by must be name, created_at or members_count, optionally prefixed with + or -.')
      }
      const users = plusMinus(query, 'user_id')
      const orgs = plusMinus(query, 'organization_id')
      const filter: OrganizationFilter = {
        instanceId: instance.id,
        query: query.query?.trim() ? query.query.trim() : null,
        memberIds: users.included,
        excludeMemberIds: users.excluded,
        includeIds: orgs.included,
        excludeIds: orgs.excluded,
      }
      const withCounts = query.include_members_count === true || query.include_missing_member_with_elevated_permissions === true
      const { rows, total } = await store.page(db, filter, { column: order[2] as OrganizationOrderColumn, descending: order[1] === '-' },
        query.limit ?? 10, query.offset ?? 0, withCounts, clock.now(instance))
      return { data: rows.map((row) => ({ row, extras: toExtras(row, query) })), totalCount: total }
    },

    /** By id or slug. */
    async get(instance: Instance, idOrSlug: string, query: GetOrganizationQuery = {}): Promise<OrganizationView> {
      const row = await store.findByIdOrSlug(db, instance.id, idOrSlug)
      if (!row) throw notFound('organization')
      return { row, extras: await extrasFor(db, row, clock.now(instance), query) }
    },

    /**
     * Changes what is given (null or absent: unchanged) and queues `organization.updated`.
     * Lowering max_allowed_memberships below the seats taken removes no one; it only stops new ones.
     */
    async update(instance: Instance, id: string, body: UpdateOrganizationBody): Promise<OrganizationRow> {
      const patch: OrganizationPatch = {
        name: body.name != null ? checkName(body.name) : null,
        slug: body.slug != null ? checkSlug(body.slug) : null,
        max_allowed_memberships: body.max_allowed_memberships ?? null,
        admin_delete_enabled: body.admin_delete_enabled ?? null,
        created_at: parseCreatedAt(body.created_at),
        public_metadata: (body.public_metadata ?? null) as Record<string, unknown> | null,
        private_metadata: (body.private_metadata ?? null) as Record<string, unknown> | null,
      }
      if (patch.public_metadata) checkMetadataSize(patch.public_metadata, 'public_metadata')
      if (patch.private_metadata) checkMetadataSize(patch.private_metadata, 'private_metadata')
      const now = clock.now(instance)
      return db.transaction(async (tx) => {
        const current = await store.lockById(tx, instance.id, id)
        if (!current) throw notFound('organization')
        if (patch.slug != null && patch.slug !== current.slug && await store.findBySlug(tx, instance.id, patch.slug)) throw slugTaken(patch.slug)
        const row = await store.update(tx, instance.id, id, patch, now)
        // The slug was free a moment ago and someone took it since.
        if (!row) throw slugTaken(patch.slug ?? current.slug)
        await queue(tx, 'organization.updated', row, now)
        return row
      })
    },

    /**
     * Metadata only: `merge` deep-merges each object given into the stored one (a key set to
     * null is removed); `replace` overwrites each one given. Queues `organization.updated`.
     */
    async updateMetadata(instance: Instance, id: string, body: OrganizationMetadataBody, mode: 'merge' | 'replace'): Promise<OrganizationRow> {
      const now = clock.now(instance)
      return db.transaction(async (tx) => {
        const current = await store.lockById(tx, instance.id, id)
        if (!current) throw notFound('organization')
        const next = (param: 'public_metadata' | 'private_metadata') => {
          const given = body[param] as Record<string, unknown> | null | undefined
          if (given == null) return null
          const value = mode === 'merge' ? mergeMetadata(current[param], given) : given
          checkMetadataSize(value, param)
          return value
        }
        const row = (await store.update(tx, instance.id, id, { public_metadata: next('public_metadata'), private_metadata: next('private_metadata') }, now))!
        await queue(tx, 'organization.updated', row, now)
        return row
      })
    },

    /**
     * Deletes the organization with its memberships, invitations and domains (foreign keys) and
     * queues `organization.deleted`.
     */
    async remove(instance: Instance, id: string): Promise<{ object: 'organization'; id: string; slug: string; deleted: true }> {
      const now = clock.now(instance)
      const row = await db.transaction(async (tx) => {
        const removed = await store.remove(tx, instance.id, id)
        if (!removed) throw notFound('organization')
        await queue(tx, 'organization.deleted', removed, now)
        return removed
      })
      return { object: 'organization', id: row.id, slug: row.slug, deleted: true }
    },
  }
}

export type OrganizationService = ReturnType<typeof createOrganizationService>
