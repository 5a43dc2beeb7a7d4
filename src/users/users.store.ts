import { escapeLike, fewMatchesPage, hasTrigramKeys, queryFor, trigramContains, type Queryable } from '../platform/db/db.js'
import { eraseSignUpTraces } from '../accept/erasure.js'

/** A user row with all its email addresses, oldest first. */
export interface UserRow {
  id: string
  instance_id: string
  first_name: string | null
  last_name: string | null
  password_hash: string | null
  public_metadata: Record<string, unknown>
  private_metadata: Record<string, unknown>
  unsafe_metadata: Record<string, unknown>
  primary_email_address_id: string | null
  external_id: string | null
  /** Lower-cased; null without one (always, where the instance has usernames off). */
  username: string | null
  /** When the password was last set; null without one. */
  password_updated_at: number | null
  last_sign_in_at: number | null
  banned: boolean
  /** Instance time the lock ends at; null or past: not locked. */
  locked_until: number | null
  failed_sign_ins: number
  created_at: number
  updated_at: number
  email_addresses: EmailAddressRow[]
}

export interface EmailAddressRow {
  id: string
  email_address: string
  /** 'ticket' | 'email_code' | 'admin', or null while unverified */
  verification_strategy: string | null
  verified_at: number | null
  created_at: number
  /** The expiry of the last code emailed to prove it (a signed-in person adding it), if any. */
  code_expires_at?: number | null
  /** Wrong codes typed against that code. */
  code_failed_attempts?: number
}

export interface NewUser {
  id: string
  instanceId: string
  emailId: string
  /** Lower-cased like every stored address. */
  emailAddress: string
  /** How the address was proved; null leaves it unverified. */
  verification: 'ticket' | 'email_code' | 'admin' | null
  passwordHash?: string | null
  externalId?: string | null
  /** Lower-cased (normalizeUsername). */
  username?: string | null
  firstName?: string | null
  lastName?: string | null
  publicMetadata?: Record<string, unknown>
  privateMetadata?: Record<string, unknown>
  unsafeMetadata?: Record<string, unknown>
  /** Set when the user is created by signing up, which also signs them in. */
  lastSignInAt?: number | null
  now: number
}

// Every read of a user brings its addresses along, in one statement.
export const USER_COLUMNS = `
  u.*,
  coalesce((
    select jsonb_agg(jsonb_build_object('id', e.id, 'email_address', e.email_address,
      'verification_strategy', e.verification_strategy, 'verified_at', e.verified_at, 'created_at', e.created_at,
      'code_expires_at', e.code_expires_at, 'code_failed_attempts', e.code_failed_attempts) order by e.created_at, e.id)
    from email_addresses e where e.user_id = u.id
  ), '[]'::jsonb) as email_addresses`

export function createUserStore() {
  return {
    /**
     * A user with one email address, in one statement. The address is unique per instance:
     * a concurrent sign-up for the same address fails here with a unique violation (23505),
     * which callers turn into `form_identifier_exists`.
     */
    async insert(q: Queryable, user: NewUser): Promise<UserRow> {
      await q.query(`
        with u as (
          insert into users (id, instance_id, first_name, last_name, password_hash, public_metadata, private_metadata,
                             unsafe_metadata, primary_email_address_id, last_sign_in_at, created_at, updated_at, external_id, password_updated_at, username)
          values ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8::jsonb, $9, $10, $11, $11, $14,
                  case when $5::text is null then null else $11::bigint end, $15) returning id
        )
        insert into email_addresses (id, instance_id, user_id, email_address, verification_strategy, verified_at, created_at)
        select $9, $2, u.id, $12, $13::text, case when $13::text is null then null else $11::bigint end, $11 from u`,
      [user.id, user.instanceId, user.firstName ?? null, user.lastName ?? null, user.passwordHash ?? null,
        JSON.stringify(user.publicMetadata ?? {}), JSON.stringify(user.privateMetadata ?? {}), JSON.stringify(user.unsafeMetadata ?? {}),
        user.emailId, user.lastSignInAt ?? null, user.now, user.emailAddress.toLowerCase(), user.verification, user.externalId ?? null, user.username ?? null])
      return (await this.findById(q, user.instanceId, user.id))!
    },

    async findById(q: Queryable, instanceId: string, id: string): Promise<UserRow | null> {
      const rows = await q.query<UserRow>(`select ${USER_COLUMNS} from users u where u.id = $1 and u.instance_id = $2`, [id, instanceId])
      return rows[0] ?? null
    },

    /**
     * The user owning the (lower-cased) address in the instance, if any: the one who verified it.
     * An unverified address reserves nothing (migration 026).
     */
    async findByEmail(q: Queryable, instanceId: string, emailAddress: string): Promise<UserRow | null> {
      const rows = await q.query<UserRow>(`
        select ${USER_COLUMNS} from users u
        where u.id = (select user_id from email_addresses where instance_id = $1 and email_address = $2 and verified_at is not null)`,
      [instanceId, emailAddress.toLowerCase()])
      return rows[0] ?? null
    },

    /** The user with the (lower-cased) username in the instance, if any. */
    async findByUsername(q: Queryable, instanceId: string, username: string): Promise<UserRow | null> {
      const rows = await q.query<UserRow>(`select ${USER_COLUMNS} from users u where u.instance_id = $1 and u.username = $2`, [instanceId, username.toLowerCase()])
      return rows[0] ?? null
    },

    /** The user, locked until the transaction ends, so that concurrent updates apply one after the other. */
    async lockById(q: Queryable, instanceId: string, id: string): Promise<UserRow | null> {
      const locked = await q.query('select id from users where id = $1 and instance_id = $2 for update', [id, instanceId])
      return locked.length === 0 ? null : this.findById(q, instanceId, id)
    },

    /** Writes the given fields (and updated_at); a unique violation (23505) means the external_id or username is taken. */
    async update(q: Queryable, instanceId: string, id: string, fields: UserUpdate, now: number): Promise<void> {
      const sets: string[] = []
      const params: unknown[] = [id, instanceId, now]
      const set = (column: string, value: unknown, cast = '') => {
        params.push(value)
        sets.push(`${column} = $${params.length}${cast}`)
      }
      if (fields.firstName !== undefined) set('first_name', fields.firstName)
      if (fields.lastName !== undefined) set('last_name', fields.lastName)
      if (fields.passwordHash !== undefined) {
        set('password_hash', fields.passwordHash)
        sets.push(`password_updated_at = ${fields.passwordHash === null ? 'null' : '$3'}`)
      }
      if (fields.externalId !== undefined) set('external_id', fields.externalId)
      if (fields.username !== undefined) set('username', fields.username)
      if (fields.primaryEmailAddressId !== undefined) set('primary_email_address_id', fields.primaryEmailAddressId)
      if (fields.publicMetadata !== undefined) set('public_metadata', JSON.stringify(fields.publicMetadata), '::jsonb')
      if (fields.privateMetadata !== undefined) set('private_metadata', JSON.stringify(fields.privateMetadata), '::jsonb')
      if (fields.unsafeMetadata !== undefined) set('unsafe_metadata', JSON.stringify(fields.unsafeMetadata), '::jsonb')
      await q.query(`update users set ${[...sets, 'updated_at = $3'].join(', ')} where id = $1 and instance_id = $2`, params)
    },

    async externalIdTaken(q: Queryable, instanceId: string, externalId: string): Promise<boolean> {
      return (await q.query('select 1 from users where instance_id = $1 and external_id = $2', [instanceId, externalId])).length > 0
    },

    /** Replaces an imported digest, unless the password changed meanwhile (then the newer one stays). */
    async rehashPassword(q: Queryable, instanceId: string, id: string, from: string, to: string): Promise<void> {
      await q.query('update users set password_hash = $4 where id = $1 and instance_id = $2 and password_hash = $3', [id, instanceId, from, to])
    },

    /** The user who may sign in with the (lower-cased) address: any of its verified addresses is an identifier. */
    async findByVerifiedEmail(q: Queryable, instanceId: string, emailAddress: string): Promise<UserRow | null> {
      const rows = await q.query<UserRow>(`
        select ${USER_COLUMNS} from users u
        where u.id = (select user_id from email_addresses where instance_id = $1 and email_address = $2 and verified_at is not null)`,
      [instanceId, emailAddress.toLowerCase()])
      return rows[0] ?? null
    },

    async touchSignIn(q: Queryable, instanceId: string, id: string, now: number): Promise<void> {
      await q.query('update users set last_sign_in_at = $3, failed_sign_ins = 0, updated_at = $3 where id = $1 and instance_id = $2', [id, instanceId, now])
    },

    /**
     * The user's ban and lock as committed, read under a share lock: a ban or lock committing
     * meanwhile waits for the sign-in's transaction, then revokes the session it started.
     */
    async standing(q: Queryable, instanceId: string, id: string): Promise<Pick<UserRow, 'banned' | 'locked_until'> | null> {
      const rows = await q.query<Pick<UserRow, 'banned' | 'locked_until'>>(
        'select banned, locked_until from users where id = $1 and instance_id = $2 for share', [id, instanceId])
      return rows[0] ?? null
    },

    /** Sets the ban and lock columns given; the user with its addresses, or null if unknown. */
    async setStanding(q: Queryable, instanceId: string, id: string, change: { banned?: boolean; lockedUntil?: number | null }, now: number): Promise<UserRow | null> {
      const rows = await q.query<{ id: string }>(`
        update users set
          banned = coalesce($3, banned),
          locked_until = case when $4::boolean then $5::bigint else locked_until end,
          failed_sign_ins = case when $4::boolean then 0 else failed_sign_ins end,
          updated_at = $6
        where id = $1 and instance_id = $2 returning id`,
      [id, instanceId, change.banned ?? null, 'lockedUntil' in change, change.lockedUntil ?? null, now])
      return rows[0] ? this.findById(q, instanceId, id) : null
    },

    /**
     * Counts a wrong password in one statement; the one reaching `maxAttempts` locks the account
     * until `lockUntil` and starts the count again, so concurrent failures lock it exactly once.
     */
    async countFailedSignIn(q: Queryable, instanceId: string, id: string, maxAttempts: number | null, lockUntil: number, now: number): Promise<void> {
      await q.query(`
        update users set
          locked_until = case when $3::integer is not null and failed_sign_ins + 1 >= $3::integer then $4::bigint else locked_until end,
          failed_sign_ins = case when $3::integer is not null and failed_sign_ins + 1 >= $3::integer then 0 else failed_sign_ins + 1 end,
          updated_at = $5
        where id = $1 and instance_id = $2`, [id, instanceId, maxAttempts, lockUntil, now])
    },

    /**
     * Takes the transaction-scoped lock on one address (see addressLockKey), the one invitation
     * creates take, so that "does a user hold this address?" is answered after we commit.
     */
    /** Another address of a user being created, verified by the operator; a unique violation (23505) if someone holds it verified. */
    async addVerifiedAddress(q: Queryable, a: { id: string; instanceId: string; userId: string; emailAddress: string; now: number }): Promise<void> {
      await q.query(`
        insert into email_addresses (id, instance_id, user_id, email_address, verification_strategy, verified_at, created_at)
        values ($1, $2, $3, $4, 'admin', $5, $5)`, [a.id, a.instanceId, a.userId, a.emailAddress, a.now])
    },

    async lockAddress(q: Queryable, key: bigint): Promise<void> {
      await q.query('select pg_advisory_xact_lock($1::bigint)', [key.toString()])
    },

    async findWithActivity(q: Queryable, instanceId: string, id: string): Promise<UserWithActivity | null> {
      const rows = await q.query<UserWithActivity>(`select ${USER_COLUMNS}, ${ACTIVITY} from users u where u.id = $1 and u.instance_id = $2`, [id, instanceId])
      return rows[0] ?? null
    },

    /**
     * One page. A text found by trigram keys that matches at most FEW_MATCHES users is found,
     * sorted and paged in one scan of the search text's index (fewMatchesPage); a text matching
     * more, or without keys, is planned for itself: a common one pages down the order's index
     * until the page is full.
     */
    async page(q: Queryable, f: UserFilter, order: { column: UserOrderColumn; descending: boolean }, limit: number, offset: number): Promise<UserWithActivity[]> {
      const dir = order.descending ? 'desc' : 'asc'
      const nulls = order.column === 'created_at' || order.column === 'updated_at' ? '' : ' nulls last'
      if (byKeys(f)) {
        const found = userWhere(f, true)
        const few = await fewMatchesPage<UserWithActivity>(q, {
          matches: `select u.id, ${ORDER_EXPRESSIONS[order.column]} as sort_key from users u where ${found.where}`,
          order: `m.sort_key ${dir}${nulls}, m.id ${dir}`,
          rows: `select ${USER_COLUMNS}, ${ACTIVITY} from users u where u.id = m.id`,
          params: found.params, cachedPlan: true, limit, offset,
        })
        if (few) return few.rows.map(({ total_count: _, ...user }: UserWithActivity & { total_count?: number }) => user)
      }
      const { where, params } = userWhere(f, false)
      return queryFor(q, hasText(f))<UserWithActivity>(
        `select ${USER_COLUMNS}, ${ACTIVITY} from users u where ${where}
         order by ${ORDER_EXPRESSIONS[order.column]} ${dir}${nulls}, u.id ${dir} limit $${params.length + 1} offset $${params.length + 2}`,
        [...params, limit, offset])
    },

    /** Counting reads every match, which the search text's index finds best by trigram keys. */
    async count(q: Queryable, f: UserFilter): Promise<number> {
      const { where, params } = userWhere(f, byKeys(f))
      const rows = await queryFor(q, hasText(f) && !byKeys(f))<{ n: string | number }>(`select count(*)::int8 as n from users u where ${where}`, params)
      return Number(rows[0]?.n ?? 0)
    },

    /**
     * Deletes the user (its addresses and sessions go with it, by foreign key), every outbox
     * row about it (they hold its address and metadata), and what signing up and signing in
     * kept under its addresses and username (see eraseSignUpTraces). Invitations are left as
     * they are: each is its own object, deleted on its own.
     */
    async remove(q: Queryable, instanceId: string, id: string): Promise<boolean> {
      const traces = await q.query<{ id: string | null; identifier: string }>(`
        select e.id, e.email_address as identifier from email_addresses e where e.user_id = $1 and e.instance_id = $2
        union all select null, u.username from users u where u.id = $1 and u.instance_id = $2 and u.username is not null`,
      [id, instanceId])
      const rows = await q.query(`
        with u as (delete from users where id = $1 and instance_id = $2 returning id),
        purged as (delete from outbox where subject_id = $1 and instance_id = $2 and exists (select 1 from u))
        select id from u`,
      [id, instanceId])
      if (rows.length === 0) return false
      await eraseSignUpTraces(q, instanceId, traces.map((t) => t.identifier), traces.flatMap((t) => (t.id === null ? [] : [t.id])))
      return rows.length > 0
    },
  }
}

export interface UserUpdate {
  firstName?: string | null
  lastName?: string | null
  passwordHash?: string | null
  externalId?: string | null
  username?: string | null
  primaryEmailAddressId?: string
  publicMetadata?: Record<string, unknown>
  privateMetadata?: Record<string, unknown>
  unsafeMetadata?: Record<string, unknown>
}

/** What GET /v1/users and /v1/users/count filter on; null (or empty) means no such filter. */
export interface UserFilter {
  instanceId: string
  /** Lower-cased, exact. */
  emailAddresses: string[] | null
  includeIds: string[] | null
  excludeIds: string[]
  /** Lower-cased, exact. */
  usernames: string[] | null
  /** A substring of an address, the username or the name, or an exact id. */
  query: string | null
  usernameQuery: string | null
  emailAddressQuery: string | null
  nameQuery: string | null
  createdAfter: number | null
  createdBefore: number | null
  lastSignInAfter: number | null
  lastSignInBefore: number | null
}

/** A user as the Backend API shows it, with the latest activity of any of its sessions. */
export type UserWithActivity = UserRow & { last_active_at: number | null }

const LAST_ACTIVE = '(select max(s.last_active_at) from sessions s where s.user_id = u.id)'
const ACTIVITY = `${LAST_ACTIVE} as last_active_at`

const ORDER_EXPRESSIONS = {
  created_at: 'u.created_at',
  updated_at: 'u.updated_at',
  email_address: '(select min(e.email_address) from email_addresses e where e.user_id = u.id)',
  first_name: 'lower(u.first_name)',
  last_name: 'lower(u.last_name)',
  last_sign_in_at: 'u.last_sign_in_at',
  username: 'u.username',
  last_active_at: LAST_ACTIVE,
} as const
export type UserOrderColumn = keyof typeof ORDER_EXPRESSIONS
export const USER_ORDER_COLUMNS = Object.keys(ORDER_EXPRESSIONS) as UserOrderColumn[]

/**
 * The name searched: concat_ws(' ', first, last) lower-cased, written from immutable parts so
 * that it is exactly the expression of the trigram index users_full_name_trgm (migration 027).
 */
export const fullName = (alias: string) => `lower(coalesce(${alias}.first_name || ' ' || ${alias}.last_name, ${alias}.first_name, ${alias}.last_name, ''))`
const FULL_NAME = fullName('u')
const hasEmail = (condition: string) => `exists (select 1 from email_addresses e where e.user_id = u.id and ${condition})`

const hasText = (f: UserFilter) => f.query !== null || f.usernameQuery !== null || f.emailAddressQuery !== null || f.nameQuery !== null

// Fields are joined by a newline in users.search_text (migration 036), so a text holding one
// could match across two of them: it is matched field by field instead.
const FIELD_BREAK = '\n'

/**
 * Whether the filter's text is found by trigram keys (trigramContains), through the search
 * text's index whatever the text, so that its statements keep cached plans: a `query` with
 * keys and no other text filter, whose `like` would want a plan of its own.
 */
const byKeys = (f: UserFilter) => f.query !== null && hasTrigramKeys(f.query) && !f.query.includes(FIELD_BREAK)
  && f.usernameQuery === null && f.emailAddressQuery === null && f.nameQuery === null

/**
 * The filter's condition on `u`. `query` is matched in users.search_text (the name, the
 * username and every address), by trigram keys when `keys`, otherwise by one `like`.
 */
function userWhere(f: UserFilter, keys: boolean): { where: string; params: unknown[] } {
  const params: unknown[] = [f.instanceId]
  const param = (value: unknown) => {
    params.push(value)
    return `$${params.length}`
  }
  const contains = (text: string) => param(`%${escapeLike(text.toLowerCase())}%`)
  const clauses = ['u.instance_id = $1']
  if (f.emailAddresses) clauses.push(hasEmail(`e.email_address = any(${param(f.emailAddresses)}::text[])`))
  if (f.includeIds) clauses.push(`u.id = any(${param(f.includeIds)}::text[])`)
  if (f.excludeIds.length > 0) clauses.push(`u.id <> all(${param(f.excludeIds)}::text[])`)
  if (f.usernames) clauses.push(`u.username = any(${param(f.usernames)}::text[])`)
  if (f.query !== null && f.query.includes(FIELD_BREAK)) {
    const like = contains(f.query)
    clauses.push(`(u.id = ${param(f.query)} or ${hasEmail(`e.email_address like ${like}`)} or u.username like ${like} or ${FULL_NAME} like ${like})`)
  } else if (f.query !== null) {
    const text = keys ? trigramContains('u.search_text', f.query.toLowerCase(), params) : `u.search_text like ${contains(f.query)}`
    clauses.push(`(u.id = ${param(f.query)} or ${text})`)
  }
  if (f.usernameQuery !== null) clauses.push(`u.username like ${contains(f.usernameQuery)}`)
  if (f.emailAddressQuery !== null) clauses.push(hasEmail(`e.email_address like ${contains(f.emailAddressQuery)}`))
  if (f.nameQuery !== null) clauses.push(`${FULL_NAME} like ${contains(f.nameQuery)}`)
  if (f.createdAfter !== null) clauses.push(`u.created_at > ${param(f.createdAfter)}`)
  if (f.createdBefore !== null) clauses.push(`u.created_at < ${param(f.createdBefore)}`)
  if (f.lastSignInAfter !== null) clauses.push(`u.last_sign_in_at > ${param(f.lastSignInAfter)}`)
  if (f.lastSignInBefore !== null) clauses.push(`u.last_sign_in_at < ${param(f.lastSignInBefore)}`)
  return { where: clauses.join(' and '), params }
}

export type UserStore = ReturnType<typeof createUserStore>
