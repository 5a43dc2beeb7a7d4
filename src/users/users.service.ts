import { isUniqueViolation, type Db, type Queryable } from '../platform/db/db.js'
import type { Clock } from '../platform/clock.js'
import { newId } from '../platform/ids.js'
import { sha256 } from '../platform/secrets.js'
import { notFound, paramError } from '../platform/errors.js'
import { addressLockKey, checkMetadataSize, normalizeEmail } from '../platform/validation.js'
import type { OutboxStore } from '../platform/outbox/outbox.store.js'
import type { Instance } from '../instance/instance.schemas.js'
import { checkPassword, hashPassword, importedDigest, PASSWORD_MAX_LENGTH, verifyPassword } from './passwords.js'
import { checkInput } from '../platform/http.js'
import { queuedUserEvent, queueUserUpdated, userCreatedEvent, userDeletedEvent, userUpdatedEvent, type UserEvent } from './users.events.js'
import { mergeMetadata } from './users.metadata.js'
import { isUsernameViolation, usernameExists, usernameParam } from './usernames.js'
import { USER_ORDER_COLUMNS, type UserRow, type UserFilter, type UserOrderColumn, type UserStore, type UserUpdate, type UserWithActivity } from './users.store.js'
import { UNSUPPORTED_UPDATE_PARAMS, type CountUsersQuery, type CreateUserBody, type ListUsersQuery, type UpdateUserBody, type UpdateUserMetadataBody, type UserStanding } from './users.schemas.js'
import { changedKeys } from '../platform/audit/audit.js'

interface Deps {
  db: Db
  clock: Clock
  store: UserStore
  outbox: OutboxStore
  /** Ends the user's active sessions, in the transaction that bans or locks them (session.revoked each). */
  revokeSessions?: (tx: Queryable, instanceId: string, user: UserRow) => Promise<void>
  /** Runs in the transaction that creates a user (verified domains enrol them there). */
  onUserCreated?: (tx: Queryable, instance: Instance, user: { id: string; emailAddress: string }) => Promise<void>
}

const ORDER_BY = new RegExp(`^([+-]?)(${USER_ORDER_COLUMNS.join('|')})$`)
const MAX_VALUES = 100

const identifierExists = (email: string) =>
  paramError(422, 'form_identifier_exists', 'email_address', 'That email address is taken. Please try another.',
    `A user with the email address ${email} already exists.`)

const externalIdExists = (externalId: string) =>
  paramError(422, 'form_identifier_exists', 'external_id', 'That external_id is taken. Please try another.',
    `A user with the external_id ${externalId} already exists.`)

const METADATA_PARAMS = ['public_metadata', 'private_metadata', 'unsafe_metadata'] as const
type MetadataParam = (typeof METADATA_PARAMS)[number]
const METADATA_FIELDS = { public_metadata: 'publicMetadata', private_metadata: 'privateMetadata', unsafe_metadata: 'unsafeMetadata' } as const

/** An external_id as stored: trimmed, and null when empty (Clerk treats "" as none). */
const externalIdOf = (value: string | null | undefined) => (value == null || value.trim() === '' ? null : value.trim())

const list = (value: string | string[] | undefined) => (value === undefined ? [] : [value].flat())
const text = (value: string | undefined) => (value?.trim() ? value.trim() : null)

/** A repeatable query parameter's values; Clerk takes up to 100 of them. */
function values(query: CountUsersQuery, param: 'email_address' | 'user_id' | 'username'): string[] {
  const all = list(query[param]).map((v) => v.trim())
  if (all.length > MAX_VALUES) {
    throw paramError(422, 'form_param_value_invalid', param, 'too many values', `${param} accepts at most ${MAX_VALUES} values.`)
  }
  return all
}

function toFilter(instance: Instance, query: CountUsersQuery): UserFilter {
  const ids = values(query, 'user_id').filter(Boolean)
  const included = ids.filter((id) => !id.startsWith('-')).map((id) => id.replace(/^\+/, ''))
  const emails = values(query, 'email_address').map((e) => e.toLowerCase())
  const usernames = values(query, 'username').map((u) => u.toLowerCase())
  return {
    instanceId: instance.id,
    emailAddresses: query.email_address === undefined ? null : emails,
    includeIds: included.length > 0 ? included : null,
    excludeIds: ids.filter((id) => id.startsWith('-')).map((id) => id.slice(1)),
    usernames: query.username === undefined ? null : usernames,
    query: text(query.query),
    usernameQuery: text(query.username_query),
    emailAddressQuery: text(query.email_address_query),
    nameQuery: text(query.name_query),
    createdAfter: query.created_at_after ?? null,
    createdBefore: query.created_at_before ?? null,
    lastSignInAfter: query.last_sign_in_at_after ?? null,
    lastSignInBefore: query.last_sign_in_at_before ?? null,
  }
}

/**
 * The addresses a new user is created with, as Clerk takes them: the first becomes primary, and
 * all are verified by the operator (strategy `admin`). The same address twice is refused.
 */
function theEmailAddresses(body: CreateUserBody): string[] {
  const addresses = list(body.email_address).map((address) => normalizeEmail(address, 'email_address'))
  if (addresses.length === 0) {
    throw paramError(422, 'form_param_missing', 'email_address', 'is missing', 'email_address must include at least one email address.')
  }
  if (addresses.length > MAX_ADDRESSES) {
    throw paramError(422, 'form_param_value_invalid', 'email_address', 'too many email addresses',
      `A user is created with at most ${MAX_ADDRESSES} email addresses; email_address holds ${addresses.length}.`)
  }
  const repeated = addresses.find((address, i) => addresses.indexOf(address) !== i)
  if (repeated) throw paramError(422, 'form_param_value_invalid', 'email_address', 'is repeated', `email_address holds ${repeated} more than once.`)
  return addresses
}

// Enough for any person; few enough that one create cannot take a long run of address locks.
const MAX_ADDRESSES = 10

async function passwordHashFor(body: Pick<CreateUserBody, 'password' | 'skip_password_checks'>): Promise<string | null> {
  if (body.password == null) return null
  // skip_password_checks lifts the minimum length only: the maximum keeps hashing cheap, and an
  // empty password would be no password at all.
  const skipsMinimum = body.skip_password_checks === true && body.password.length > 0
  if (!skipsMinimum || body.password.length > PASSWORD_MAX_LENGTH) checkPassword(body.password)
  return hashPassword(body.password)
}

/** Size, then depth and text (checkInput counts depth from the body, where metadata is one level down). */
function checkMetadata(value: Record<string, unknown>, param: MetadataParam): void {
  checkMetadataSize(value, param)
  checkInput(value, param, 1)
}

/** A password, or a digest made elsewhere with its hasher; never both. */
async function createPasswordHash(body: CreateUserBody): Promise<string | null> {
  if (body.password_digest == null) {
    if (body.password_hasher != null) {
      throw paramError(422, 'form_param_missing', 'password_digest', 'is missing', 'password_hasher is only for a password_digest.')
    }
    return passwordHashFor(body)
  }
  if (body.password != null) {
    throw paramError(422, 'form_param_value_invalid', 'password_digest', 'is not allowed with password', 'Give either password or password_digest, not both.')
  }
  if (body.password_hasher == null) {
    throw paramError(422, 'form_param_missing', 'password_hasher', 'is missing', 'password_hasher must name the algorithm of password_digest.')
  }
  return importedDigest(body.password_hasher, body.password_digest)
}

export function createUserService({ db, clock, store, outbox, onUserCreated, revokeSessions }: Deps) {
  const enqueue = (tx: Queryable, event: UserEvent) => outbox.enqueue(tx, [queuedUserEvent(event, clock.now())], clock.now())

  /**
   * Bans or locks (`endSessions`), or lifts either: the user's active sessions end in the same
   * transaction, so no session token is minted for them again, and `user.updated` is queued.
   */
  async function changeStanding(instance: Instance, id: string, change: { banned?: boolean; lockedUntil?: number | null }, endSessions: boolean): Promise<UserWithActivity> {
    const now = clock.now(instance)
    await db.transaction(async (tx) => {
      const user: UserRow | null = await store.setStanding(tx, instance.id, id, change, now)
      if (!user) throw notFound('user')
      if (endSessions) await revokeSessions?.(tx, instance.id, user)
      await enqueue(tx, userUpdatedEvent(user, instance, now))
    })
    const user = await store.findWithActivity(db, instance.id, id)
    if (!user) throw notFound('user')
    return user
  }

  return {
    /**
     * Creates a user with one verified address (the operator vouches for it) and queues
     * `user.created` in the same transaction. The address lock is the one invitation creates
     * take, so an invitation check running alongside sees this user once it is committed.
     */
    async create(instance: Instance, body: CreateUserBody): Promise<UserWithActivity> {
      const emailAddresses = theEmailAddresses(body)
      const emailAddress = emailAddresses[0]!
      const metadata = {
        public_metadata: (body.public_metadata ?? {}) as Record<string, unknown>,
        private_metadata: (body.private_metadata ?? {}) as Record<string, unknown>,
        unsafe_metadata: (body.unsafe_metadata ?? {}) as Record<string, unknown>,
      }
      for (const [param, value] of Object.entries(metadata)) checkMetadataSize(value, param)
      const passwordHash = await createPasswordHash(body)
      const externalId = externalIdOf(body.external_id)
      const username = usernameParam(instance, body.username, true) ?? null
      const now = clock.now(instance)
      try {
        return await db.transaction(async (tx) => {
          // In one order, so that two creates naming the same addresses cannot deadlock.
          for (const address of [...emailAddresses].sort()) await store.lockAddress(tx, addressLockKey(instance.id, address, sha256))
          for (const address of emailAddresses) if (await store.findByEmail(tx, instance.id, address)) throw identifierExists(address)
          if (externalId !== null && await store.externalIdTaken(tx, instance.id, externalId)) throw externalIdExists(externalId)
          if (username !== null && await store.findByUsername(tx, instance.id, username)) throw usernameExists(username)
          const user = await store.insert(tx, {
            id: newId('user', now), instanceId: instance.id, emailId: newId('idn', now), emailAddress, verification: 'admin',
            passwordHash, externalId, username, firstName: body.first_name ?? null, lastName: body.last_name ?? null,
            publicMetadata: metadata.public_metadata, privateMetadata: metadata.private_metadata, unsafeMetadata: metadata.unsafe_metadata, now,
          })
          // A user's addresses list in the order they were added: a millisecond apart, these keep the order given.
          for (const [i, address] of emailAddresses.slice(1).entries()) {
            await store.addVerifiedAddress(tx, { id: newId('idn', now), instanceId: instance.id, userId: user.id, emailAddress: address, now: now + i + 1 })
          }
          const created = emailAddresses.length === 1 ? user : (await store.findById(tx, instance.id, user.id))!
          await enqueue(tx, userCreatedEvent(created, instance, now))
          for (const address of emailAddresses) await onUserCreated?.(tx, instance, { id: user.id, emailAddress: address })
          return { ...created, last_active_at: null }
        })
      } catch (err) {
        // A sign-up that does not take the address lock can still win the race: the unique index decides.
        if (isUniqueViolation(err)) {
          if (username !== null && isUsernameViolation(err)) throw usernameExists(username)
          throw externalId !== null && /external_id/.test(String((err as { constraint?: string }).constraint ?? (err as Error).message)) ? externalIdExists(externalId) : identifierExists(emailAddress)
        }
        throw err
      }
    },

    /**
     * Clerk's metadata merge (see mergeMetadata), under the user's row lock so that two
     * concurrent merges both land. The merged objects must pass the checks new metadata passes.
     */
    async updateMetadata(instance: Instance, id: string, body: UpdateUserMetadataBody): Promise<UserWithActivity> {
      return db.transaction(async (tx) => {
        const user = await store.lockById(tx, instance.id, id)
        if (!user) throw notFound('user')
        const update: UserUpdate = {}
        const keys: string[] = []
        for (const param of METADATA_PARAMS) {
          const patch = body[param] as Record<string, unknown> | undefined
          if (patch === undefined) continue
          const merged = mergeMetadata(user[param], patch)
          checkMetadata(merged, param)
          update[METADATA_FIELDS[param]] = merged
          keys.push(...changedKeys(user[param], merged).map((k) => `${param}.${k}`))
        }
        await store.update(tx, instance.id, id, update, clock.now(instance))
        await queueUserUpdated(tx, { store, outbox, clock }, instance, id, keys)
        return (await store.findWithActivity(tx, instance.id, id))!
      })
    },

    /**
     * Changes what the body names and queues `user.updated`. Metadata given here replaces the
     * stored object (the metadata route merges).
     */
    async update(instance: Instance, id: string, body: UpdateUserBody): Promise<UserWithActivity> {
      const unsupported = UNSUPPORTED_UPDATE_PARAMS.find((param) => body[param as keyof UpdateUserBody] != null)
      if (unsupported) {
        throw paramError(422, 'form_param_unknown', unsupported, 'is not supported',
          `${unsupported} is not supported by Foyer.`)
      }
      const update: UserUpdate = {}
      if (body.first_name !== undefined) update.firstName = body.first_name
      if (body.last_name !== undefined) update.lastName = body.last_name
      if (body.external_id !== undefined) update.externalId = externalIdOf(body.external_id)
      const username = usernameParam(instance, body.username)
      if (username !== undefined) update.username = username
      for (const param of METADATA_PARAMS) {
        const value = body[param] as Record<string, unknown> | undefined
        if (value === undefined) continue
        checkMetadata(value, param)
        update[METADATA_FIELDS[param]] = value
      }
      // Removing a password is not an update (Clerk has its own route for it): null changes nothing.
      if (body.password != null) update.passwordHash = await passwordHashFor(body)
      try {
        return await db.transaction(async (tx) => {
          const user = await store.lockById(tx, instance.id, id)
          if (!user) throw notFound('user')
          if (body.primary_email_address_id != null) {
            const address = user.email_addresses.find((e) => e.id === body.primary_email_address_id)
            if (!address) {
              throw paramError(422, 'form_param_value_invalid', 'primary_email_address_id', 'is invalid',
                'primary_email_address_id must be the id of one of this user\'s email addresses.')
            }
            if (address.verified_at === null) {
              throw paramError(422, 'form_param_value_invalid', 'primary_email_address_id', 'is not verified',
                'primary_email_address_id must be the id of a verified email address.')
            }
            update.primaryEmailAddressId = address.id
          }
          if (update.username && update.username !== user.username && await store.findByUsername(tx, instance.id, update.username)) throw usernameExists(update.username)
          await store.update(tx, instance.id, id, update, clock.now(instance))
          const keys = Object.keys(body).filter((k) => body[k as keyof UpdateUserBody] !== undefined && !(METADATA_PARAMS as readonly string[]).includes(k))
          for (const param of METADATA_PARAMS) {
            const value = body[param] as Record<string, unknown> | undefined
            if (value !== undefined) keys.push(...changedKeys(user[param], value).map((k) => `${param}.${k}`))
          }
          await queueUserUpdated(tx, { store, outbox, clock }, instance, id, keys)
          return (await store.findWithActivity(tx, instance.id, id))!
        })
      } catch (err) {
        if (isUniqueViolation(err) && update.username && isUsernameViolation(err)) throw usernameExists(update.username)
        if (isUniqueViolation(err) && update.externalId) throw externalIdExists(update.externalId)
        throw err
      }
    },

    async list(instance: Instance, query: ListUsersQuery): Promise<{ data: UserWithActivity[]; totalCount: number | null }> {
      const orderBy = list(query.order_by)[0] ?? '-created_at'
      const order = ORDER_BY.exec(orderBy)
      if (!order) {
        throw paramError(422, 'form_param_value_invalid', 'order_by', 'is invalid',
          `order_by must be one of ${USER_ORDER_COLUMNS.join(', ')}, optionally prefixed with + or -.`)
      }
      const filter = toFilter(instance, query)
      const data = await store.page(db, filter, { column: order[2] as UserOrderColumn, descending: order[1] === '-' }, query.limit ?? 10, query.offset ?? 0)
      return { data, totalCount: query.paginated === true ? await store.count(db, filter) : null }
    },

    count: (instance: Instance, query: CountUsersQuery) => store.count(db, toFilter(instance, query)),

    async get(instance: Instance, id: string): Promise<UserWithActivity> {
      const user = await store.findWithActivity(db, instance.id, id)
      if (!user) throw notFound('user')
      return user
    },

    /** The instance's time and lockout settings a User's lock is shown against. */
    standing: (instance: Instance): UserStanding => ({ now: clock.now(instance), lockout: instance.userLockout }),

    ban: (instance: Instance, id: string) => changeStanding(instance, id, { banned: true }, true),
    unban: (instance: Instance, id: string) => changeStanding(instance, id, { banned: false }, false),
    /** Locks for the instance's lockout duration, like an automatic lockout (Clerk's rule). */
    lock: (instance: Instance, id: string) =>
      changeStanding(instance, id, { lockedUntil: clock.now(instance) + instance.userLockout.duration_in_minutes * 60_000 }, true),
    unlock: (instance: Instance, id: string) => changeStanding(instance, id, { lockedUntil: null }, false),

    /**
     * Checks a password for the application's own re-verification. It does not count toward
     * lockout: only the secret key's holder can ask, and it decides itself how often.
     */
    async verifyPassword(instance: Instance, id: string, password: string): Promise<{ verified: true }> {
      const user = await store.findById(db, instance.id, id)
      if (!user) throw notFound('user')
      if (user.password_hash === null) {
        throw paramError(400, 'password_not_set', 'password', 'This user has no password.', 'The user has no password set, so there is nothing to verify.')
      }
      if (!await verifyPassword(password, user.password_hash)) {
        throw paramError(422, 'incorrect_password', 'password', 'Password is incorrect.', 'The password does not match the user\'s password.')
      }
      return { verified: true }
    },

    /** Deletes the user with its addresses, sessions and sign-up traces (see the store), and queues `user.deleted`; invitations stay. */
    async remove(instance: Instance, id: string): Promise<{ object: 'user'; id: string; deleted: true }> {
      const now = clock.now(instance)
      await db.transaction(async (tx) => {
        if (!await store.remove(tx, instance.id, id)) throw notFound('user')
        await enqueue(tx, userDeletedEvent(id, instance, now))
      })
      return { object: 'user', id, deleted: true }
    },
  }
}

export type UserService = ReturnType<typeof createUserService>
