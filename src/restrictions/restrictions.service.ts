import { isUniqueViolation, type Db, type Queryable } from '../platform/db/db.js'
import type { Clock } from '../platform/clock.js'
import { newId } from '../platform/ids.js'
import { ApiError, invalidParam, notFound, paramError } from '../platform/errors.js'
import { normalizeEmail } from '../platform/validation.js'
import type { Instance } from '../instance/instance.schemas.js'
import type { InvitationService } from '../invitations/invitations.service.js'
import type { CreateIdentifierBody, ListIdentifiersQuery } from './restrictions.schemas.js'
import type { ListedIdentifierRow, ListName, RestrictionStore } from './restrictions.store.js'
import { recordAudit } from '../platform/audit/audit.js'

interface Deps {
  db: Db
  clock: Clock
  store: RestrictionStore
  invitations: InvitationService
}

/**
 * An identifier as stored: a lower-cased email address, or a domain as `*@example.com`
 * (`@example.com` is read the same). Anything else (phone numbers, wallets) is refused with 422.
 */
export function normalizeIdentifier(raw: string): string {
  const text = raw.trim().toLowerCase()
  const domain = /^\*?@([^@]*)$/.exec(text)?.[1]
  try {
    if (domain === undefined) return normalizeEmail(text, 'identifier')
    normalizeEmail(`x@${domain}`, 'identifier')
    return `*@${domain}`
  } catch {
    throw invalidParam('identifier', 'identifier must be an email address, or a domain written *@example.com.')
  }
}

/**
 * Clerk's answer to a blocklisted address (`not_allowed_access`, as clerk-js names it): 422 where
 * someone is invited, 403 where the person signs up.
 */
export const identifierBlocked = (status: number, param = 'email_address') =>
  paramError(status, 'not_allowed_access', param, 'This email address is not allowed.',
    'This email address, or its domain, is on the instance\'s blocklist.')

/** Throws identifierBlocked when the blocklist holds the address or its domain. */
export async function refuseBlocked(q: Queryable, store: RestrictionStore, instanceId: string, email: string, status: number, param?: string): Promise<void> {
  if (await store.isListed(q, instanceId, 'blocklist', email)) throw identifierBlocked(status, param)
}

/** refuseBlocked for a batch, in one query: the first blocked address (by its index in `emails`) is refused. */
export async function refuseBlockedAmong(q: Queryable, store: RestrictionStore, instanceId: string, emails: readonly string[], status: number, param: (index: number) => string): Promise<void> {
  const blocked = await store.listedAmong(q, instanceId, 'blocklist', emails)
  const first = emails.findIndex((email) => blocked.has(email))
  if (first >= 0) throw identifierBlocked(status, param(first))
}

const ID_PREFIX = { allowlist: 'alid', blocklist: 'blid' } as const

export function createRestrictionService({ db, clock, store, invitations }: Deps) {
  return {
    /** Newest first: `{data, total_count}`, or the plain array when `paginated` is not true. */
    async list(instance: Instance, list: ListName, query: ListIdentifiersQuery): Promise<{ data: ListedIdentifierRow[]; totalCount: number }> {
      const { rows, total } = await store.page(db, instance.id, list, query.limit ?? 10, query.offset ?? 0)
      return { data: rows, totalCount: total }
    },

    /**
     * Adds an identifier to the list: 422 naming `identifier` for one that is neither an email
     * address nor a domain, 400 `duplicate_record` for one the list holds. With `notify` (the
     * allowlist only, email addresses only) an invitation is sent in the same transaction.
     */
    async create(instance: Instance, list: ListName, body: CreateIdentifierBody): Promise<ListedIdentifierRow> {
      const identifier = normalizeIdentifier(body.identifier)
      const now = clock.now(instance)
      try {
        return await db.transaction(async (tx) => {
          const invitation = list === 'allowlist' && body.notify === true && !identifier.startsWith('*@')
            // The entry, not the invitation, is what lets the person in: an earlier invitation or account does not stop it.
            ? await invitations.create(instance, { email_address: identifier, notify: true, ignore_existing: true }, tx)
            : null
          const row: ListedIdentifierRow = {
            id: newId(ID_PREFIX[list], now), instance_id: instance.id, list, identifier, invitation_id: invitation?.id ?? null, created_at: now, updated_at: now,
          }
          await store.insert(tx, row)
          await recordAudit(tx, { instanceId: instance.id, action: `${list}_identifier.created`, target: { type: `${list}_identifier`, id: row.id, label: identifier } }, clock.now())
          return row
        })
      } catch (err) {
        if (!isUniqueViolation(err)) throw err
        throw new ApiError(400, 'duplicate_record', 'duplicate identifier', `${identifier} is already on the ${list}.`, { param_name: 'identifier' })
      }
    },

    async remove(instance: Instance, list: ListName, id: string): Promise<{ object: string; id: string; deleted: true }> {
      const removed = await db.transaction(async (tx) => {
        const done = await store.remove(tx, instance.id, list, id)
        if (done) await recordAudit(tx, { instanceId: instance.id, action: `${list}_identifier.deleted`, target: { type: `${list}_identifier`, id } }, clock.now())
        return done
      })
      if (!removed) throw notFound(`${list} identifier`)
      return { object: `${list}_identifier`, id, deleted: true }
    },

    isListed: (q: Queryable, instanceId: string, list: ListName, email: string) => store.isListed(q, instanceId, list, email),
    hasEntries: (instanceId: string, list: ListName) => store.hasEntries(db, instanceId, list),
  }
}

export type RestrictionService = ReturnType<typeof createRestrictionService>
