import type { Db } from '../platform/db/db.js'
import type { Clock } from '../platform/clock.js'
import { newId } from '../platform/ids.js'
import { ApiError, notFound, paramError } from '../platform/errors.js'
import { normalizeEmail } from '../platform/validation.js'
import type { Instance } from '../instance/instance.schemas.js'
import type { InvitationService } from '../invitations/invitations.service.js'
import type { UserStore } from '../users/users.store.js'
import type { WaitlistFilter, WaitlistStore } from './waitlist.store.js'
import type { InviteWaitlistEntryBody, ListWaitlistEntriesQuery, WaitlistEntryRow, WaitlistStatus } from './waitlist.schemas.js'
import { recordAudit } from '../platform/audit/audit.js'

interface Deps {
  db: Db
  clock: Clock
  store: WaitlistStore
  invitations: InvitationService
  users: UserStore
}

const ORDER_BY = /^([+-]?)(created_at|email_address|invited_at)$/

export function createWaitlistService({ db, clock, store, invitations, users }: Deps) {
  return {
    /**
     * Puts the address on the instance's waitlist and answers its entry. An address already
     * on it answers its existing entry, whatever its status; an address a user holds is
     * refused (that person should sign in). The hosted pages and the Backend API both call this.
     */
    async join(instance: Instance, emailAddress: string): Promise<WaitlistEntryRow> {
      const email = normalizeEmail(emailAddress, 'email_address')
      const existing = await store.findByEmail(db, instance.id, email)
      if (existing) return existing
      if (await users.findByEmail(db, instance.id, email)) {
        throw paramError(422, 'form_identifier_exists', 'email_address', 'That email address is taken.',
          `A user with the email address ${email} already exists: they can sign in instead.`)
      }
      const now = clock.now(instance)
      return db.transaction(async (tx) => {
        const entry = await store.insert(tx, { id: newId('wle', now), instanceId: instance.id, emailAddress: email, now })
        await recordAudit(tx, { instanceId: instance.id, action: 'waitlist_entry.created', target: { type: 'waitlist_entry', id: entry.id, label: email } }, clock.now())
        return entry
      })
    },

    async list(instance: Instance, query: ListWaitlistEntriesQuery): Promise<{ data: WaitlistEntryRow[]; totalCount: number }> {
      const order = ORDER_BY.exec(query.order_by ?? '-created_at')
      if (!order) {
        throw paramError(422, 'form_param_value_invalid', 'order_by', 'is invalid',
          'order_by must be created_at, email_address or invited_at, optionally prefixed with + or -.')
      }
      const filter: WaitlistFilter = {
        instanceId: instance.id,
        status: (query.status ?? null) as WaitlistStatus | null,
        query: query.query?.trim() ? query.query.trim() : null,
        orderBy: { column: order[2] as WaitlistFilter['orderBy']['column'], descending: order[1] === '-' },
        limit: query.limit ?? 10,
        offset: query.offset ?? 0,
      }
      const { rows, total } = await store.page(db, filter)
      return { data: rows, totalCount: total }
    },

    /**
     * Invites a pending entry: an application invitation with the `waitlist_invitation` email,
     * created by the invitations service (so its rules, event and email apply), and the entry
     * marked invited with it, in one transaction: both happen or neither does.
     */
    async invite(instance: Instance, id: string, body: InviteWaitlistEntryBody): Promise<WaitlistEntryRow> {
      const now = clock.now(instance)
      return db.transaction(async (tx) => {
        const entry = await store.lockById(tx, instance.id, id)
        if (!entry) throw notFound('waitlist entry')
        if (entry.status !== 'pending') {
          const detail = entry.invitation_id ? ` (invitation ${entry.invitation_id}; POST /v1/invitations/${entry.invitation_id}/resend sends it again)` : ''
          throw new ApiError(400, 'duplicate_record', 'not pending', `Only pending waitlist entries can be invited; this entry is ${entry.status}${detail}.`)
        }
        const invitation = await invitations.create(instance, {
          email_address: entry.email_address, template_slug: 'waitlist_invitation', ignore_existing: body.ignore_existing ?? false,
        }, tx)
        await store.markInvited(tx, instance.id, id, invitation.id, now)
        return (await store.findById(tx, instance.id, id))!
      })
    },
  }
}

export type WaitlistService = ReturnType<typeof createWaitlistService>
