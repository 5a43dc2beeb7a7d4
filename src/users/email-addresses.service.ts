import { isUniqueViolation, type Db, type Queryable } from '../platform/db/db.js'
import type { Clock } from '../platform/clock.js'
import { newId } from '../platform/ids.js'
import { deriveCode, newNonce, sameSecret, sha256 } from '../platform/secrets.js'
import { ApiError, notFound, paramError } from '../platform/errors.js'
import { addressLockKey, normalizeEmail } from '../platform/validation.js'
import type { OutboxStore } from '../platform/outbox/outbox.store.js'
import type { Instance } from '../instance/instance.schemas.js'
import { queueUserUpdated } from './users.events.js'
import type { UserStore } from './users.store.js'
import type { EmailAddressStore, EmailAddressWithUser } from './email-addresses.store.js'
import type { RestrictionStore } from '../restrictions/restrictions.store.js'
import { refuseBlocked } from '../restrictions/restrictions.service.js'
import { CODE_MAX_FAILURES, CODE_RESEND_INTERVAL_MS, CODE_TTL_MS, type CodeEmails } from '../accept/code-emails.js'

interface Deps {
  db: Db
  clock: Clock
  store: EmailAddressStore
  users: UserStore
  outbox: OutboxStore
  serverSecret: Buffer
  codeEmails: CodeEmails
  /** The instance's blocklist: a person cannot add a blocked address themselves. */
  restrictions: RestrictionStore
  /** Runs in the transaction that verifies an address (verified domains enrol its user there). */
  onVerified?: (tx: Queryable, instance: Instance, user: { id: string; emailAddress: string }) => Promise<void>
}

const identifierExists = (email: string) =>
  paramError(422, 'form_identifier_exists', 'email_address', 'That email address is taken. Please try another.',
    `A user with the email address ${email} already exists.`)

export interface CreateEmailAddress { user_id: string; email_address: string; verified?: boolean | null; primary?: boolean | null }
export interface UpdateEmailAddress { verified?: boolean | null; primary?: boolean | null }

export function createEmailAddressService({ db, clock, store, users, outbox, serverSecret, codeEmails, restrictions, onVerified }: Deps) {
  async function found(q: Queryable, instance: Instance, id: string): Promise<EmailAddressWithUser> {
    const row = await store.findById(q, instance.id, id)
    if (!row) throw notFound('email address')
    return row
  }

  /** The user's own address: another user's, or another instance's, is not found. */
  async function own(q: Queryable, instance: Instance, userId: string, id: string): Promise<EmailAddressWithUser> {
    const row = await found(q, instance, id)
    if (row.user_id !== userId) throw notFound('email address')
    return row
  }

  /** The 6-digit code of an address's current nonce: derived like a ticket, never stored. */
  const codeFor = (row: { id: string; code_nonce: string }) => deriveCode(serverSecret, 'email_address', row.id, row.code_nonce)
  const alreadyVerified = () => paramError(400, 'verification_already_verified', 'code', 'This email address is verified already.', 'This email address is verified already.')

  /**
   * Runs a change that verifies an address. Another user may hold it unverified too, and may
   * have verified it first (migration 026): then it is theirs, and this answers 422.
   */
  const verifying = async <T>(emailAddress: string, change: () => Promise<T>): Promise<T> => {
    try {
      return await change()
    } catch (err) {
      if (isUniqueViolation(err)) throw identifierExists(emailAddress)
      throw err
    }
  }

  const service = {
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
          if (body.verified === true) await onVerified?.(tx, instance, { id: body.user_id, emailAddress })
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
          await verifying(before.email_address, () => store.setVerified(tx, instance.id, id, body.verified!, now))
          if (body.verified) await onVerified?.(tx, instance, { id: before.user_id, emailAddress: before.email_address })
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

    /** A signed-in person's addresses, oldest first. */
    listOwn: (instance: Instance, userId: string) => store.listForUser(db, instance.id, userId),

    /** Adds an unverified address for the signed-in person; one on the blocklist answers 403 as a sign-up would. */
    async addOwn(instance: Instance, userId: string, emailAddress: string): Promise<EmailAddressWithUser> {
      await refuseBlocked(db, restrictions, instance.id, normalizeEmail(emailAddress, 'email_address'), 403)
      return service.create(instance, { user_id: userId, email_address: emailAddress })
    },

    /** One of the person's addresses; 404 for anyone else's. */
    getOwn: (instance: Instance, userId: string, id: string) => own(db, instance, userId, id),

    /**
     * Emails a code that verifies the person's unverified address (Clerk's `email_code`). A code
     * sent less than CODE_RESEND_INTERVAL_MS ago is not sent again; a new one replaces the old,
     * with a new expiry and tries. Each email counts against the inbox's hourly budget, shared
     * with sign-ups (429 past it).
     */
    async prepareVerification(instance: Instance, userId: string, id: string): Promise<EmailAddressWithUser> {
      const row = await own(db, instance, userId, id)
      if (row.verified_at !== null) throw alreadyVerified()
      const now = clock.now(instance)
      if (row.code_expires_at != null && row.code_expires_at - CODE_TTL_MS >= now - CODE_RESEND_INTERVAL_MS) return row
      return db.transaction(async (tx) => {
        const to = { id, instance_id: instance.id, email_address: row.email_address }
        await codeEmails.spend(tx, to, now)
        const renewed = await store.renewCode(tx, id, { nonce: newNonce(), expiresAt: now + CODE_TTL_MS, sentBefore: now - CODE_RESEND_INTERVAL_MS, ttlMs: CODE_TTL_MS })
        // Another request sent one meanwhile, or the address was verified: nothing more to send.
        if (renewed) await codeEmails.send(tx, to, { email_address_id: id }, now)
        return own(tx, instance, userId, id)
      })
    },

    /**
     * Verifies the person's address with its emailed code, once. Each try is spent before the
     * code is compared, in one guarded update, so however many guesses arrive at once no more
     * than CODE_MAX_FAILURES are compared: a wrong code answers 422 `form_code_incorrect`, then
     * 400 `verification_failed` until a new code is sent; an expired one 400 `verification_expired`.
     */
    async attemptVerification(instance: Instance, userId: string, id: string, code: string): Promise<EmailAddressWithUser> {
      const row = await own(db, instance, userId, id)
      if (row.verified_at !== null) throw alreadyVerified()
      const failed = () => paramError(400, 'verification_failed', 'code', 'Too many failed attempts.',
        'Too many incorrect codes, or no code was sent: send a new code and try again.')
      if (row.code_nonce === null || row.code_expires_at == null) throw failed()
      const now = clock.now(instance)
      if (row.code_expires_at <= now) throw paramError(400, 'verification_expired', 'code', 'This code has expired.', 'Send a new code and try again.')
      const tries = await store.spendTry(db, id, row.code_nonce, CODE_MAX_FAILURES)
      if (tries === null) throw failed()
      if (!sameSecret(code.trim(), codeFor({ id, code_nonce: row.code_nonce }))) {
        const left = CODE_MAX_FAILURES - tries
        throw paramError(422, 'form_code_incorrect', 'code', 'Incorrect code.',
          left > 0 ? `The code is incorrect: ${left} ${left === 1 ? 'try' : 'tries'} left.` : 'The code is incorrect, and that was the last try: send a new code.')
      }
      return db.transaction(async (tx) => {
        await store.lockUser(tx, instance.id, userId)
        if (!await verifying(row.email_address, () => store.verifyByCode(tx, id, row.code_nonce!, now))) throw failed()
        await store.touchUser(tx, instance.id, userId, now)
        await onVerified?.(tx, instance, { id: userId, emailAddress: row.email_address })
        await queueUserUpdated(tx, { store: users, outbox, clock }, instance, userId)
        return own(tx, instance, userId, id)
      })
    },

    /**
     * Deletes one of the person's addresses. Their primary address stays, even as the last one:
     * without it they could no longer sign in (the Backend API can still remove it).
     */
    async removeOwn(instance: Instance, userId: string, id: string) {
      const row = await own(db, instance, userId, id)
      if (row.is_primary) {
        throw new ApiError(409, 'primary_email_address_deletion_forbidden', 'cannot delete the primary email address',
          `${row.email_address} is your primary email address: make another address primary before deleting it.`,
          { param_name: 'email_address_id', email_address_id: id })
      }
      return service.remove(instance, id)
    },

    /** The address's current code, for its `verification_code` email; null once there is none to send. */
    async codeEmail(instanceId: string, id: string) {
      const row = await store.findById(db, instanceId, id)
      if (!row || row.code_nonce === null || row.code_expires_at == null || row.verified_at !== null) return null
      return { to: row.email_address, code: codeFor({ id, code_nonce: row.code_nonce }), expiresAt: row.code_expires_at }
    },
  }
  return service
}

export type EmailAddressService = ReturnType<typeof createEmailAddressService>
