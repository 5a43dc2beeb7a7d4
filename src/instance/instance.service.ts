import type { Db } from '../platform/db/db.js'
import type { Clock } from '../platform/clock.js'
import { newId, randomToken } from '../platform/ids.js'
import { seal, sha256, unseal } from '../platform/secrets.js'
import { ApiError, notFound, paramError } from '../platform/errors.js'
import { checkRedirectUrl, isAllowedOrigin, originPattern } from '../platform/validation.js'
import type { InstanceStore, NewSecretKey, SecretKeyRow } from './instance.store.js'
import { redirectOriginsOf, toInstance, type Instance, type UpdateInstanceBody, type UsernameSettings } from './instance.schemas.js'
import { recordAudit } from '../platform/audit/audit.js'

interface Deps {
  db: Db
  clock: Clock
  store: InstanceStore
  publicUrl: string
  /** FOYER_ALLOWED_REDIRECT_ORIGINS: every instance allows these. */
  allowedRedirectOrigins: readonly string[]
  /** Seals secret keys so that they can be revealed again; never stored in the database. */
  serverSecret: Buffer
  /** FOYER_SECRET_KEY: the default instance answers to exactly this key. */
  pinnedSecretKey?: string | null
  testing: boolean
  /** How long an instance read from the database is served from memory (CACHE_MS unless given). */
  cacheMs?: number
}

/** A secret key as the dashboard lists it: never the key itself. */
/** A secret key as the audit log names it: its id and hint, never the key. */
export interface SecretKeyRef {
  id: string
  hint: string | null
}

export interface SecretKeyInfo {
  id: string
  /** The key's start and last four characters (`sk_test_…AbCd`); null for a key made before Foyer kept them. */
  hint: string | null
  canReveal: boolean
  isPinned: boolean
  createdAt: number
  /** When a rolled key stops working; null for a key that works until rolled or deleted. */
  expiresAt: number | null
}

/** How long a rolled key keeps working beside its successor, so deployments can switch without downtime. */
export const ROLL_GRACE_PERIODS_MS = [0, 60 * 60 * 1000, 24 * 60 * 60 * 1000, 7 * 24 * 60 * 60 * 1000] as const

export const newSecretKey = (environment: 'development' | 'production') =>
  `sk_${environment === 'production' ? 'live' : 'test'}_${randomToken(40)}`

const environmentOf = (secretKey: string) => (secretKey.startsWith('sk_live_') ? 'production' : 'development')

/**
 * The host a publishable key names, and session tokens carry as `iss`: FOYER_PUBLIC_URL's.
 * Clerk's SDKs refuse a key whose host has no dot, so the loopback names (`localhost`, `[::1]`)
 * become 127.0.0.1, the same machine: an app beside a fresh `npm start` takes the key as it
 * is printed. (The SDKs reach Foyer over plain http only through `proxyUrl`, so the key's
 * host is never dialled here; it names the instance's issuer and its cookies' suffix.)
 */
export function frontendApiHost(publicUrl: string): string {
  const url = new URL(publicUrl)
  if (url.hostname === 'localhost' || url.hostname === '[::1]') return `127.0.0.1${url.port ? `:${url.port}` : ''}`
  return url.host
}

// Clerk's publishable keys are base64 of the Frontend API host followed by '$'.
export const publishableKeyFor = (environment: 'development' | 'production', publicUrl: string) =>
  `pk_${environment === 'production' ? 'live' : 'test'}_${Buffer.from(frontendApiHost(publicUrl) + '$').toString('base64')}`

// Instances are read on every request; a short cache saves a round trip per call. Changes made
// through this process drop the entry at once; another process sees them within this time.
const CACHE_MS = 2000
// Any constant works, the same in every process.
const BOOTSTRAP_LOCK = 7_210_514_101

// The key's id and instance are sealed in with it: a sealed key copied onto another row does not open.
const sealContext = (instanceId: string, keyId: string) => `secret_key:${instanceId}:${keyId}`
const hintOf = (secretKey: string) => `${secretKey.slice(0, 8)}…${secretKey.slice(-4)}`

export function createInstanceService({ db, clock, store, publicUrl, allowedRedirectOrigins, serverSecret, pinnedSecretKey = null, testing, cacheMs = CACHE_MS }: Deps) {
  const cache = new Map<string, { instance: Instance; key: SecretKeyRef; until: number; keyExpiresAt: number | null }>()
  // Bumped by every change to an instance, so that a lookup that raced a change does not put
  // what it read before the change back into the cache.
  let generation = 0
  const pinnedHash = pinnedSecretKey ? sha256(pinnedSecretKey) : null

  // Instances by id ('' for the default one), for the public paths that name one (the handshake).
  const byId = new Map<string, { instance: Instance; until: number }>()

  // Reads under way, by key hash and by id. Requests that arrive together while an entry is
  // missing (all of them at a start, and those in flight whenever an entry lapses under load)
  // share one read instead of each taking a connection for the same row; a flood of one
  // unknown key costs one read at a time.
  const keyReads = new Map<string, Promise<{ instance: Instance; key: SecretKeyRef } | null>>()
  const idReads = new Map<string, Promise<Instance | null>>()
  const shared = <T>(reads: Map<string, Promise<T>>, key: string, read: () => Promise<T>): Promise<T> => {
    const pending = reads.get(key)
    if (pending) return pending
    const started = read().finally(() => {
      if (reads.get(key) === started) reads.delete(key)
    })
    reads.set(key, started)
    return started
  }

  const forget = (instanceId: string) => {
    generation++
    // A read that began before this change may return what it held; callers from now on read afresh.
    keyReads.clear()
    idReads.clear()
    for (const [hash, entry] of cache) if (entry.instance.id === instanceId) cache.delete(hash)
    for (const [id, entry] of byId) if (entry.instance.id === instanceId) byId.delete(id)
  }

  const newKey = (instanceId: string, secretKey: string, keyId = newId('key', clock.now())): NewSecretKey => ({
    id: keyId, key_hash: sha256(secretKey), hint: hintOf(secretKey), sealed_key: seal(serverSecret, secretKey, sealContext(instanceId, keyId)),
  })

  const keyInfo = (row: SecretKeyRow): SecretKeyInfo => ({
    id: row.id, hint: row.hint, canReveal: row.sealed_key !== null, isPinned: row.key_hash === pinnedHash, createdAt: row.created_at, expiresAt: row.expires_at,
  })

  async function create(options: { name: string; secretKey?: string; isDefault?: boolean }): Promise<{ instance: Instance; secretKey: string }> {
    const secretKey = options.secretKey ?? newSecretKey('development')
    const environment = environmentOf(secretKey)
    const now = clock.now()
    const id = newId('ins', now)
    const row = await db.transaction(async (tx) => {
      const inserted = await store.insert(tx, {
        id,
        name: options.name,
        environment_type: environment,
        publishable_key: publishableKeyFor(environment, publicUrl),
        is_default: options.isDefault ?? false,
        created_at: now,
        updated_at: now,
      }, newKey(id, secretKey))
      await recordAudit(tx, { instanceId: id, action: 'instance.created', target: { type: 'instance', id, label: options.name } }, now)
      return inserted
    })
    return { instance: toInstance(row), secretKey }
  }

  /** The instance's own origins as given, checked and in canonical form, without repeats. */
  function parseOrigins(raw: readonly string[]): string[] {
    const origins = raw.map((text, i) => {
      const origin = originPattern(text)
      if (origin === null) {
        throw paramError(422, 'form_param_format_invalid', `allowed_redirect_origins[${i}]`, 'is invalid',
          `allowed_redirect_origins[${i}] must be an origin such as https://app.example.com, or http://localhost:* for any port, without a path; ${JSON.stringify(text.slice(0, 100))} is not one.`)
      }
      return origin
    })
    return [...new Set(origins)]
  }

  /** A required username is an enabled one: requiring enables, disabling stops requiring. */
  function usernameChange(change: Partial<UsernameSettings>): Partial<UsernameSettings> {
    if (change.required === true && change.enabled === false) {
      throw paramError(422, 'form_param_value_invalid', 'username', 'is invalid', 'username cannot be required and disabled at once.')
    }
    if (change.required === true) return { enabled: true, required: true }
    if (change.enabled === false) return { enabled: false, required: false }
    return change
  }

  /** Keys can change only by the operator's hand, and never the way FOYER_SECRET_KEY would undo at the next start. */
  function refusePinned(instance: Instance, what: string) {
    if (pinnedHash && instance.isDefault) {
      throw new ApiError(409, 'secret_key_pinned', 'pinned by configuration',
        `This instance's key is set by FOYER_SECRET_KEY, so it cannot be ${what} here: the next start would put the configured key back. Change FOYER_SECRET_KEY and restart instead.`)
    }
  }

  async function bootstrapOnce(pinnedKey: string | null): Promise<{ instance: Instance; secretKey: string | null; created: boolean }> {
    // The keys follow FOYER_PUBLIC_URL: a deployment that moves (or an older key for a host the
    // SDKs refuse) gets the key for where Foyer now is, at the next start.
    await store.syncPublishableKeys(db, publishableKeyFor('development', publicUrl), publishableKeyFor('production', publicUrl))
    const existing = await store.findDefault(db)
    if (!existing) {
      const made = await create({ name: 'My application', secretKey: pinnedKey ?? undefined, isDefault: true })
      return { instance: made.instance, secretKey: pinnedKey ? null : made.secretKey, created: true }
    }
    if (pinnedKey) {
      const hash = sha256(pinnedKey)
      const holder = await store.findByKeyHash(db, hash, clock.now())
      if (holder && holder.id !== existing.id) {
        throw new Error('FOYER_SECRET_KEY already belongs to another instance')
      }
      // Exactly this key, at every start: the instance's only key, never expiring, sealed
      // under the current server secret (which may have changed since), keeping its id.
      const keyId = (await store.findKeyIdByHash(db, existing.id, hash)) ?? undefined
      await db.transaction((tx) => store.pinKey(tx, existing.id, newKey(existing.id, pinnedKey, keyId), environmentOf(pinnedKey), clock.now()))
      forget(existing.id)
    }
    const row = await store.findById(db, existing.id)
    return { instance: toInstance(row!), secretKey: null, created: false }
  }

  /**
   * As authenticate, with the key's id and hint (never the key), which name the actor of the
   * request in the audit log.
   */
  async function authenticateKey(secretKey: string): Promise<{ instance: Instance; key: SecretKeyRef } | null> {
    const hash = sha256(secretKey)
    const hit = cache.get(hash)
    // The cache lives on real time; keys expire on the server's clock (never an instance's
    // test clock, which moves invitations, not credentials).
    const wall = Date.now()
    const now = clock.now()
    if (hit && hit.until > wall && (hit.keyExpiresAt === null || hit.keyExpiresAt > now)) return hit
    return shared(keyReads, hash, async () => {
      const before = generation
      const row = await store.findByKeyHash(db, hash, now)
      if (!row) return null
      const instance = toInstance(row)
      const key = { id: row.key_id, hint: row.key_hint }
      if (cache.size > 10_000) cache.clear()
      if (generation === before) cache.set(hash, { instance, key, until: Date.now() + cacheMs, keyExpiresAt: row.key_expires_at })
      return { instance, key }
    })
  }

  return {
    create,

    /** FOYER_ALLOWED_REDIRECT_ORIGINS, which every instance allows. */
    serverOrigins: allowedRedirectOrigins,

    /**
     * The instance created at first start. With `pinnedKey` (FOYER_SECRET_KEY) that
     * instance answers to exactly that key and no other. `secretKey` is returned only when
     * a key was generated now (to print it once; the dashboard can reveal it later).
     */
    async bootstrap(pinnedKey: string | null): Promise<{ instance: Instance; secretKey: string | null; created: boolean }> {
      // Replicas starting together on an empty database would each make the default instance
      // (and, with FOYER_SECRET_KEY, collide on its key): on PostgreSQL they take turns. An
      // embedded PGlite belongs to one process.
      if (db.engine !== 'postgres') return bootstrapOnce(pinnedKey)
      return db.transaction(async (tx) => {
        await tx.query('select pg_advisory_xact_lock($1)', [BOOTSTRAP_LOCK])
        return bootstrapOnce(pinnedKey)
      })
    },

    /**
     * The instance `id` names, or the default one for null; null when there is none. Cached
     * like secret keys: changes made through this process are seen at once, another process's
     * within CACHE_MS.
     */
    async find(id: string | null): Promise<Instance | null> {
      const wall = Date.now()
      const hit = byId.get(id ?? '')
      if (hit && hit.until > wall) return hit.instance
      return shared(idReads, id ?? '', async () => {
        const before = generation
        const row = id ? await store.findById(db, id) : await store.findDefault(db)
        if (!row) return null
        const instance = toInstance(row)
        if (byId.size > 10_000) byId.clear()
        if (generation === before) byId.set(id ?? '', { instance, until: Date.now() + cacheMs })
        return instance
      })
    },

    /** The instance a secret key selects, or null for a key no instance holds. */
    async authenticate(secretKey: string): Promise<Instance | null> {
      return (await authenticateKey(secretKey))?.instance ?? null
    },

    authenticateKey,

    /**
     * Changes the instance's settings (only the fields given). Home and after-sign-up URLs must
     * be on an origin allowed after the change, whether they are changed too or kept: 422
     * names the field, or `allowed_redirect_origins` when the new origins would leave a kept
     * URL outside.
     */
    async update(instance: Instance, body: UpdateInstanceBody): Promise<Instance> {
      const row = await db.transaction(async (tx) => {
        // The URLs kept are checked against the origins as they are now, under the instance's
        // lock: two changes at once cannot leave a URL on an origin the other removed.
        const locked = await store.lock(tx, instance.id)
        if (!locked) throw notFound('instance')
        const current = toInstance(locked)
        const ownOrigins = body.allowed_redirect_origins ? parseOrigins(body.allowed_redirect_origins) : current.allowedRedirectOrigins
        const origins = redirectOriginsOf({ allowedRedirectOrigins: ownOrigins }, allowedRedirectOrigins)
        for (const param of ['home_url', 'after_sign_up_url'] as const) {
          const value = body[param]
          if (typeof value === 'string') body[param] = checkRedirectUrl(value, origins, param)
        }
        if (body.allowed_redirect_origins) {
          const kept = { home_url: current.homeUrl, after_sign_up_url: current.afterSignUpUrl }
          for (const param of ['home_url', 'after_sign_up_url'] as const) {
            const url = param in body ? null : kept[param]
            if (url && !isAllowedOrigin(new URL(url), origins)) {
              throw paramError(422, 'form_param_value_invalid', 'allowed_redirect_origins', 'would refuse a URL in use',
                `allowed_redirect_origins must keep ${param} (${url}) on an allowed origin: add ${new URL(url).origin}, or change ${param} first.`)
            }
          }
        }
        await recordAudit(tx, { instanceId: instance.id, action: 'instance.updated', target: { type: 'instance', id: instance.id, label: current.name },
          changedKeys: Object.keys(body).filter((k) => (body as Record<string, unknown>)[k] !== undefined) }, clock.now())
        return store.update(tx, instance.id, {
          name: body.application_name,
          sign_up_mode: body.sign_up_mode,
          ...('home_url' in body ? { home_url: body.home_url ?? null } : {}),
          ...('after_sign_up_url' in body ? { after_sign_up_url: body.after_sign_up_url ?? null } : {}),
          rate_limits: body.rate_limits,
          user_lockout: body.user_lockout,
          remind_before_expiry_days: body.remind_before_expiry_days,
          username_settings: body.username && usernameChange(body.username),
          ...(body.allowed_redirect_origins ? { allowed_redirect_origins: ownOrigins } : {}),
        }, clock.now())
      })
      if (!row) throw notFound('instance')
      forget(instance.id)
      return toInstance(row)
    },

    /** The instance's working secret keys, oldest first. */
    async listKeys(instance: Instance): Promise<SecretKeyInfo[]> {
      return (await store.listKeys(db, instance.id, clock.now())).map(keyInfo)
    },

    /**
     * One of the instance's working keys, in full. 404 for a key of another instance or one
     * that stopped working; 409 when it cannot be shown (made before keys were sealed, or
     * sealed under another server secret).
     */
    async revealKey(instance: Instance, keyId: string): Promise<{ key: SecretKeyInfo; secretKey: string }> {
      const row = await store.findKey(db, instance.id, keyId, clock.now())
      if (!row) throw notFound('secret key')
      const secretKey = row.sealed_key === null ? null : unseal(serverSecret, row.sealed_key, sealContext(instance.id, row.id))
      if (secretKey === null || sha256(secretKey) !== row.key_hash) {
        throw new ApiError(409, 'secret_key_not_revealable', 'cannot be revealed', row.sealed_key === null
          ? 'This key was made before Foyer could show keys again, so only its hash is stored. Roll it to get a key that can be revealed.'
          : 'This key was sealed under another server secret (FOYER_SECRET changed), so it cannot be shown. It still works; roll it to get one that can be revealed.')
      }
      return { key: keyInfo(row), secretKey }
    },

    /**
     * A new secret key for the instance. Every other key keeps working for `graceMs` (one of
     * ROLL_GRACE_PERIODS_MS; 0 stops them now), so an application can switch without downtime.
     * 409 for an instance whose key FOYER_SECRET_KEY pins.
     */
    async rollKey(instance: Instance, graceMs: number): Promise<{ key: SecretKeyInfo; secretKey: string }> {
      refusePinned(instance, 'rolled')
      if (!(ROLL_GRACE_PERIODS_MS as readonly number[]).includes(graceMs)) {
        throw paramError(422, 'form_param_value_invalid', 'grace_period', 'is invalid', `grace_period must be one of ${ROLL_GRACE_PERIODS_MS.map((ms) => ms / 3_600_000).join(', ')} hours.`)
      }
      const secretKey = newSecretKey(instance.environmentType)
      const now = clock.now()
      const row = await db.transaction(async (tx) => {
        if (!await store.lock(tx, instance.id)) throw notFound('instance')
        const inserted = await store.insertKey(tx, instance.id, newKey(instance.id, secretKey), now)
        await store.expireOtherKeys(tx, instance.id, inserted.id, now + graceMs, now)
        await recordAudit(tx, { instanceId: instance.id, action: 'secret_key.rolled', target: { type: 'secret_key', id: inserted.id, label: inserted.hint } }, now)
        return inserted
      })
      forget(instance.id)
      return { key: keyInfo(row), secretKey }
    },

    /**
     * Stops one key now. 422 when no key that works until rolled would be left (a key in its
     * grace period stops soon, so it does not count); 409 for the key FOYER_SECRET_KEY pins.
     */
    async deleteKey(instance: Instance, keyId: string): Promise<void> {
      await db.transaction(async (tx) => {
        // Under the instance's lock, so that two deletions cannot each leave the other as the last key.
        if (!await store.lock(tx, instance.id)) throw notFound('instance')
        const keys = await store.listKeys(tx, instance.id, clock.now())
        const key = keys.find((k) => k.id === keyId)
        if (!key) throw notFound('secret key')
        if (key.key_hash === pinnedHash) refusePinned(instance, 'deleted')
        if (!keys.some((k) => k.id !== keyId && k.expires_at === null)) {
          throw new ApiError(422, 'secret_key_last_active', 'last lasting key',
            'No other key of this instance works until rolled (a rolled key stops at the end of its grace period): roll this one instead, so that the instance keeps one.')
        }
        await store.deleteKey(tx, instance.id, keyId)
        await recordAudit(tx, { instanceId: instance.id, action: 'secret_key.deleted', target: { type: 'secret_key', id: keyId, label: key.hint } }, clock.now())
      })
      forget(instance.id)
    },

    /** Moves one instance's clock forward; only with FOYER_TESTING=1 and a development key. */
    async advanceClock(instance: Instance, ms: number): Promise<number> {
      if (!testing || instance.environmentType !== 'development') {
        throw new ApiError(404, 'resource_not_found', 'not found', 'The test clock is only available with FOYER_TESTING=1 and an sk_test_ key.')
      }
      const row = await store.advanceClock(db, instance.id, ms)
      if (!row) throw notFound('instance')
      forget(instance.id)
      return clock.now(toInstance(row))
    },

    now(instance: Instance): number {
      if (!testing || instance.environmentType !== 'development') {
        throw new ApiError(404, 'resource_not_found', 'not found', 'The test clock is only available with FOYER_TESTING=1 and an sk_test_ key.')
      }
      return clock.now(instance)
    },
  }
}

export type InstanceService = ReturnType<typeof createInstanceService>
