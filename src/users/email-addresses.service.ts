import { isUniqueViolation, type Db, type Queryable } from '../platform/db/db.js'
import type { Clock } from '../platform/clock.js'
import { newId } from '../platform/ids.js'
import { sha256 } from '../platform/secrets.js'
import { ApiError, notFound, paramError } from '../platform/errors.js'
import { addressLockKey, normalizeEmail } from '../platform/validation.js'
import type { OutboxStore } from '../platform/outbox/outbox.store.js'
import type { Instance } from '../instance/instance.schemas.js'
import { queueUserUpdated } from './users.events.js'
import type { UserStore } from './users.store.js'
import type { EmailAddressStore, EmailAddressWithUser } from './email-addresses.store.js'

interface Deps {
  db: Db
  clock: Clock
  store: EmailAddressStore
  users: UserStore
  outbox: OutboxStore
}

const identifierExists = (email: string) =>
  paramError(422, 'form_identifier_exists', 'email_address', 'That email address is taken. Please try another.',
    `A user with the email address ${email} already exists.`)

export interface CreateEmailAddress { user_id: string; email_address: string; verified?: boolean | null; primary?: boolean | null }
export interface UpdateEmailAddress { verified?: boolean | null; primary?: boolean | null }

export function createEmailAddressService({ db, clock, store, users, outbox }: Deps) {
  async function found(q: Queryable, instance: Instance, id: string): Promise<EmailAddressWithUser> {
    const row = await store.findById(q, instance.id, id)
    if (!row) throw notFound('email address')
    return row
  }

  return {
    /**
     * Adds an address to a user. An address is one user's per instance: the address lock (the one
     * invitation creates take) orders this against invitation checks, and the unique index
     * decides a race with a sign-up that takes no lock. The user's first address becomes primary.
     */
    async create(instance: Instance, body: CreateEmailAddress): Promise<EmailAddressWithUser> {
      const emailAddress = normalizeEmail(body.email_address, 'email_address')
      const now = clock.now(instance)
      const id = newId('idn', now)
      try {
        return await db.transaction(async (tx) => {
          const user = await store.lockUser(tx, instance.id, body.user_id)
          if (!user) throw notFound('user')
          await users.lockAddress(tx, addressLockKey(instance.id, emailAddress, sha256))
          if (await users.findByEmail(tx, instance.id, emailAddress)) throw identifierExists(emailAddress)
          await store.insert(tx, { id, instanceId: instance.id, userId: body.user_id, emailAddress, verification: body.verified === true ? 'admin' : null, now })
          if (body.primary === true || user.primary_email_address_id === null) await store.setPrimary(tx, instance.id, body.user_id, id, now)
          else await store.touchUser(tx, instance.id, body.user_id, now)
          await queueUserUpdated(tx, { store: users, outbox, clock }, instance, body.user_id)
          return found(tx, instance, id)
        })
      } catch (err) {
        if (isUniqueViolation(err)) throw identifierExists(emailAddress)
        throw err
      }
    },

    get: (instance: Instance, id: string) => found(db, instance, id),

    /** Changes whether the address is verified, and/or makes it its user's primary address. */
    async update(instance: Instance, id: string, body: UpdateEmailAddress): Promise<EmailAddressWithUser> {
      const now = clock.now(instance)
      return db.transaction(async (tx) => {
        const before = await found(tx, instance, id)
        await store.lockUser(tx, instance.id, before.user_id)
        let changed = false
        if (body.verified != null && body.verified !== (before.verified_at !== null)) {
          await store.setVerified(tx, instance.id, id, body.verified, now)
          changed = true
        }
        if (body.primary === true && !before.is_primary) {
          await store.setPrimary(tx, instance.id, before.user_id, id, now)
          changed = true
        }
        if (changed) {
          await store.touchUser(tx, instance.id, before.user_id, now)
          await queueUserUpdated(tx, { store: users, outbox, clock }, instance, before.user_id)
        }
        return found(tx, instance, id)
      })
    },

    /**
     * Deletes the address. The primary address goes only when it is the user's last one: another
     * must be made primary first, so a user is never left with addresses but no primary one.
     */
    async remove(instance: Instance, id: string): Promise<{ object: 'email_address'; id: string; deleted: true }> {
      const now = clock.now(instance)
      await db.transaction(async (tx) => {
        const row = await found(tx, instance, id)
        // The user's row lock serialises this against a concurrent change of primary address.
        const user = await store.lockUser(tx, instance.id, row.user_id)
        const isPrimary = user?.primary_email_address_id === id
        if (isPrimary && await store.countForUser(tx, row.user_id) > 1) {
          throw new ApiError(409, 'primary_email_address_deletion_forbidden', 'cannot delete the primary email address',
            `${row.email_address} is the user's primary email address: make another address primary before deleting it.`,
            { param_name: 'email_address_id', email_address_id: id })
        }
        if (!await store.remove(tx, instance.id, id)) throw notFound('email address')
        if (isPrimary) await store.setPrimary(tx, instance.id, row.user_id, null, now)
        else await store.touchUser(tx, instance.id, row.user_id, now)
        await queueUserUpdated(tx, { store: users, outbox, clock }, instance, row.user_id)
      })
      return { object: 'email_address', id, deleted: true }
    },
  }
}

export type EmailAddressService = ReturnType<typeof createEmailAddressService>
