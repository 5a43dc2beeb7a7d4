import type { Db, Queryable } from '../platform/db/db.js'
import { DAY_MS, type Clock } from '../platform/clock.js'
import { newId } from '../platform/ids.js'
import { sha256 } from '../platform/secrets.js'
import { ApiError, notFound } from '../platform/errors.js'
import { addressLockKey, checkMetadataSize, checkRedirectUrl, normalizeEmail } from '../platform/validation.js'
import { redirectOriginsOf, type Instance } from '../instance/instance.schemas.js'
import type { TicketService } from '../tickets/tickets.service.js'
import type { InvitationListRow, InvitationStore, ListFilter, NewInvitationWrite } from './invitations.store.js'
import type { OutboxItem } from '../platform/outbox/outbox.store.js'
import type { RestrictionStore } from '../restrictions/restrictions.store.js'
import { refuseBlocked, refuseBlockedAmong } from '../restrictions/restrictions.service.js'
import {
  toClerkInvitation, type CreateInvitationBody, type InvitationRow, type InvitationStatus, type ListInvitationsQuery,
} from './invitations.schemas.js'

interface Deps {
  db: Db
  clock: Clock
  store: InvitationStore
  tickets: TicketService
  allowedRedirectOrigins: readonly string[]
  restrictions: RestrictionStore
}

/** A webhook event with Clerk's Invitation (as it reads at `now`) as `data`, for the outbox of the change. */
export function invitationEvent(type: string, instance: { id: string }, row: InvitationRow, now: number): OutboxItem {
  // The event's Invitation omits `url`: it carries the ticket, and the database must not.
  // Delivery derives it again from the invitation's nonce.
  const { url: _url, ...data } = toClerkInvitation(row, now, '')
  return { id: newId('msg', now), kind: 'webhook', topic: type, payload: { data, object: 'event', type, timestamp: now, instance_id: instance.id } }
}

/**
 * The reminder mark an invitation emailed at `now` gets: none (a reminder is due again) when
 * the reminder window has not opened yet; otherwise this email stands for the reminder.
 */
const remindedAtFor = (instance: Instance, expiresAt: number, now: number) =>
  expiresAt - instance.remindBeforeExpiryDays * DAY_MS > now ? null : now

interface ValidInvitation {
  emailAddress: string
  publicMetadata: Record<string, unknown>
  redirectUrl: string | null
  notify: boolean
  ignoreExisting: boolean
  expiresInDays: number
  templateSlug: string
}

const ORDER_BY = /^([+-]?)(created_at|email_address|expires_at)$/

export function createInvitationService({ db, clock, store, tickets, allowedRedirectOrigins, restrictions }: Deps) {
  /** Checks one create body; `param` prefixes parameter names for bulk items (`[3].email_address`). */
  function validate(instance: Instance, body: CreateInvitationBody, index?: number): ValidInvitation {
    const name = (param: string) => (index === undefined ? param : `[${index}].${param}`)
    const publicMetadata = (body.public_metadata ?? {}) as Record<string, unknown>
    checkMetadataSize(publicMetadata, name('public_metadata'))
    return {
      emailAddress: normalizeEmail(body.email_address, name('email_address')),
      publicMetadata,
      redirectUrl: body.redirect_url ? checkRedirectUrl(body.redirect_url, redirectOriginsOf(instance, allowedRedirectOrigins), name('redirect_url')) : null,
      notify: body.notify ?? true,
      ignoreExisting: body.ignore_existing ?? false,
      expiresInDays: body.expires_in_days ?? 30,
      templateSlug: body.template_slug ?? 'invitation',
    }
  }

  /** What the change must send: the webhook event always, the email only when asked. */
  function outboxFor(type: string, instance: Instance, row: InvitationRow, now: number, email?: { templateSlug: string }): OutboxItem[] {
    const items: OutboxItem[] = [invitationEvent(type, instance, row, now)]
    if (email) {
      items.push({
        id: newId('msg', now),
        kind: 'email',
        topic: email.templateSlug,
        payload: { invitation_id: row.id, to: row.email_address, template_slug: email.templateSlug },
      })
    }
    return items
  }

  type Rules = { requireNoPending: boolean; requireNoUser: boolean }

  /** The row, events and lock of one new invitation, ready for the store. */
  function prepare(instance: Instance, input: ValidInvitation, now: number, rules: Rules): NewInvitationWrite {
    const id = newId('inv', now)
    const ticket = tickets.issue(id)
    const invitation = {
      id, instance_id: instance.id, email_address: input.emailAddress, public_metadata: input.publicMetadata,
      redirect_url: input.redirectUrl, notify: input.notify, template_slug: input.templateSlug,
      ticket_nonce: ticket.nonce, ticket_hash: ticket.hash, expires_at: now + input.expiresInDays * DAY_MS, created_at: now, updated_at: now,
    }
    const lockKey = rules.requireNoPending || rules.requireNoUser ? addressLockKey(instance.id, input.emailAddress, sha256) : null
    const outbox = outboxFor('invitation.created', instance, { ...invitation, status: 'pending' }, now, input.notify ? { templateSlug: input.templateSlug } : undefined)
    return { invitation, outbox, rules: { lockKey, ...rules } }
  }

  /** Why the store inserted nothing: a pending invitation for the address (when refused), else its user. */
  async function refusal(q: Queryable, instance: Instance, input: ValidInvitation, now: number, rules: Rules, param: string): Promise<ApiError> {
    if (rules.requireNoPending && await store.hasPending(q, instance.id, input.emailAddress, now)) {
      return new ApiError(400, 'duplicate_record', 'duplicate invitation',
        `There is already a pending invitation for ${input.emailAddress}. Revoke it, or pass ignore_existing: true.`,
        { param_name: param })
    }
    return new ApiError(400, 'form_identifier_exists', 'That email address is taken.',
      `A user with the email address ${input.emailAddress} already exists.`, { param_name: param })
  }

  async function insertOne(q: Queryable, instance: Instance, input: ValidInvitation, now: number, rules: Rules, param: string): Promise<InvitationRow> {
    await refuseBlocked(q, restrictions, instance.id, input.emailAddress, 422, param)
    const write = prepare(instance, input, now, rules)
    const row = await store.insert(q, write.invitation, write.outbox, clock.now(), write.rules)
    if (row) return row
    throw await refusal(q, instance, input, now, rules, param)
  }

  // One order for every writer, so that two bulk requests cannot deadlock on each other.
  const lockAll = (tx: Queryable, instance: Instance, emails: string[]) =>
    store.lockAddresses(tx, [...new Set(emails)].sort().map((email) => addressLockKey(instance.id, email, sha256)))

  return {
    /**
     * Creates one pending invitation and queues its event (and its email unless notify is
     * false) in the same transaction. Without ignore_existing, an address with a usable
     * pending invitation or a user is refused; concurrent creates for one address are
     * serialised, so exactly one of them wins. `q` lets a caller make the invitation part of
     * its own transaction (a waitlist entry is marked invited with it, or not at all).
     */
    async create(instance: Instance, body: CreateInvitationBody, q: Queryable = db): Promise<InvitationRow> {
      const input = validate(instance, body)
      const check = !input.ignoreExisting
      // One statement, hence its own transaction unless `q` is one: the address lock is taken inside it.
      return insertOne(q, instance, input, clock.now(instance), { requireNoPending: check, requireNoUser: check }, 'email_address')
    },

    /**
     * All or nothing: any refused item rolls back the whole batch. ignore_existing bypasses
     * only the pending-invitation rule here; an address that belongs to a user is always refused.
     */
    async createBulk(instance: Instance, bodies: CreateInvitationBody[]): Promise<InvitationRow[]> {
      const inputs = bodies.map((body, i) => validate(instance, body, i))
      const now = clock.now(instance)
      return db.transaction(async (tx) => {
        await lockAll(tx, instance, inputs.map((i) => i.emailAddress))
        await refuseBlockedAmong(tx, restrictions, instance.id, inputs.map((i) => i.emailAddress), 422, (i) => `[${i}].email_address`)
        const rules = inputs.map((input): Rules => ({ requireNoPending: !input.ignoreExisting, requireNoUser: true }))
        // One statement for the batch: a round trip per item made a bulk create of ten take
        // ten times one create's wait on the database.
        const rows = await store.insertMany(tx, inputs.map((input, i) => prepare(instance, input, now, rules[i]!)), clock.now())
        const refused = rows.findIndex((row) => row === null)
        if (refused >= 0) throw await refusal(tx, instance, inputs[refused]!, now, rules[refused]!, `[${refused}].email_address`)
        return rows as InvitationRow[]
      })
    },

    async list(instance: Instance, query: ListInvitationsQuery): Promise<{ data: InvitationListRow[]; totalCount: number | null }> {
      const order = ORDER_BY.exec(query.order_by ?? '-created_at')
      if (!order) {
        throw new ApiError(422, 'form_param_value_invalid', 'is invalid',
          'order_by must be created_at, email_address or expires_at, optionally prefixed with + or -.', { param_name: 'order_by' })
      }
      const filter: ListFilter = {
        instanceId: instance.id,
        status: (query.status ?? null) as InvitationStatus | null,
        query: query.query?.trim() ? query.query.trim() : null,
        orderBy: { column: order[2] as ListFilter['orderBy']['column'], descending: order[1] === '-' },
        limit: query.limit ?? 10,
        offset: query.offset ?? 0,
        now: clock.now(instance),
      }
      const { rows, total } = await store.page(db, filter, query.paginated === true)
      return { data: rows, totalCount: total }
    },

    /** Only a pending, unexpired invitation can be revoked; its link stops working at once. */
    async revoke(instance: Instance, id: string): Promise<InvitationRow> {
      const now = clock.now(instance)
      return db.transaction(async (tx) => {
        const current = await store.findById(tx, instance.id, id)
        if (!current) throw notFound('invitation')
        const revoked = { ...current, status: 'revoked' as const, updated_at: now }
        const row = await store.revoke(tx, instance.id, id, now, clock.now(), outboxFor('invitation.revoked', instance, revoked, now))
        if (row) return row
        throw new ApiError(400, 'invitation_not_pending', 'not pending',
          `Only pending invitations can be revoked; this invitation is ${toClerkInvitation(current, now, '').status}.`)
      })
    },

    /**
     * Sends the invitation's email again (Foyer extension). A pending invitation keeps its link;
     * an expired one is re-issued first: new ticket (the old link stops working), new expiry
     * (`expires_in_days`, default 30), same id. The change and the email are one transaction.
     * Revoked or accepted: 400; unknown: 404.
     */
    async resend(instance: Instance, id: string, body: { expires_in_days?: number | null }): Promise<InvitationRow> {
      const now = clock.now(instance)
      // The outbox runs on wall time: an item queued at the instance's (test-clock) time would
      // not be due until the wall clock caught up.
      const queuedAt = clock.now()
      return db.transaction(async (tx) => {
        const current = await store.findById(tx, instance.id, id)
        if (!current) throw notFound('invitation')
        const email = (row: InvitationRow) => outboxFor('invitation.resent', instance, row, now, { templateSlug: row.template_slug })
          .filter((item) => item.kind === 'email')
        let row: InvitationRow | null = null
        if (current.status === 'pending' && current.expires_at > now) {
          row = await store.requeue(tx, instance.id, id, now, queuedAt, email(current), remindedAtFor(instance, current.expires_at, now))
        } else if (current.status === 'pending') {
          const ticket = tickets.issue(id)
          const expiresAt = now + (body.expires_in_days ?? 30) * DAY_MS
          row = await store.reissue(tx, instance.id, id, now, queuedAt, ticket, expiresAt, email(current), remindedAtFor(instance, expiresAt, now))
        }
        if (row) return row
        // Revoked or accepted, now or (a race) since it was read.
        const latest = (await store.findById(tx, instance.id, id)) ?? current
        throw new ApiError(400, 'invitation_not_pending', 'not pending',
          `Only pending or expired invitations can be resent; this invitation is ${toClerkInvitation(latest, now, '').status}.`)
      })
    },

    /** Removes the invitation in any status, with everything queued or logged for its recipient. */
    async remove(instance: Instance, id: string): Promise<{ object: 'invitation'; id: string; deleted: true }> {
      const removed = await db.transaction((tx) => store.remove(tx, instance.id, id))
      if (!removed) throw notFound('invitation')
      return { object: 'invitation', id, deleted: true }
    },
  }
}

export type InvitationService = ReturnType<typeof createInvitationService>
