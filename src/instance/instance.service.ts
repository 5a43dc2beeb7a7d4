import type { Db } from '../platform/db/db.js'
import type { Clock } from '../platform/clock.js'
import { newId, randomToken } from '../platform/ids.js'
import { sha256 } from '../platform/secrets.js'
import { ApiError, notFound } from '../platform/errors.js'
import { checkRedirectUrl } from '../platform/validation.js'
import type { InstanceStore } from './instance.store.js'
import { toInstance, type Instance, type UpdateInstanceBody } from './instance.schemas.js'

interface Deps {
  db: Db
  clock: Clock
  store: InstanceStore
  publicUrl: string
  allowedRedirectOrigins: readonly string[]
  testing: boolean
}

export const newSecretKey = (environment: 'development' | 'production') =>
  `sk_${environment === 'production' ? 'live' : 'test'}_${randomToken(40)}`

const environmentOf = (secretKey: string) => (secretKey.startsWith('sk_live_') ? 'production' : 'development')

// Clerk's publishable keys are base64 of the Frontend API host followed by '$'.
const publishableKeyFor = (environment: 'development' | 'production', publicUrl: string) =>
  `pk_${environment === 'production' ? 'live' : 'test'}_${Buffer.from(new URL(publicUrl).host + '$').toString('base64')}`

// Instances are read on every request; a short cache saves a round trip per call. Changes made
// through this process drop the entry at once; another process sees them within this time.
const CACHE_MS = 2000

export function createInstanceService({ db, clock, store, publicUrl, allowedRedirectOrigins, testing }: Deps) {
  const cache = new Map<string, { instance: Instance; until: number }>()

  const forget = (instanceId: string) => {
    for (const [hash, entry] of cache) if (entry.instance.id === instanceId) cache.delete(hash)
  }

  async function create(options: { name: string; secretKey?: string; isDefault?: boolean }): Promise<{ instance: Instance; secretKey: string }> {
    const secretKey = options.secretKey ?? newSecretKey('development')
    const environment = environmentOf(secretKey)
    const now = clock.now()
    const row = await db.transaction((tx) => store.insert(tx, {
      id: newId('ins', now),
      name: options.name,
      environment_type: environment,
      publishable_key: publishableKeyFor(environment, publicUrl),
      is_default: options.isDefault ?? false,
      created_at: now,
      updated_at: now,
    }, sha256(secretKey)))
    return { instance: toInstance(row), secretKey }
  }

  return {
    create,

    /**
     * The instance created at first start. With `pinnedKey` (FOYER_SECRET_KEY) that
     * instance answers to exactly that key and no other. `secretKey` is returned only when
     * a key was generated now: it is stored as a hash and cannot be shown again.
     */
    async bootstrap(pinnedKey: string | null): Promise<{ instance: Instance; secretKey: string | null; created: boolean }> {
      const existing = await store.findDefault(db)
      if (!existing) {
        const made = await create({ name: 'My application', secretKey: pinnedKey ?? undefined, isDefault: true })
        return { instance: made.instance, secretKey: pinnedKey ? null : made.secretKey, created: true }
      }
      if (pinnedKey) {
        const owner = await store.findByKeyHash(db, sha256(pinnedKey))
        if (owner && owner.id !== existing.id) {
          throw new Error('FOYER_SECRET_KEY already belongs to another instance')
        }
        if (!owner) {
          await db.transaction((tx) => store.replaceKeys(tx, existing.id, sha256(pinnedKey), environmentOf(pinnedKey), clock.now()))
        }
      }
      const row = await store.findById(db, existing.id)
      return { instance: toInstance(row!), secretKey: null, created: false }
    },

    /** The instance a secret key selects, or null for a key no instance holds. */
    async authenticate(secretKey: string): Promise<Instance | null> {
      const hash = sha256(secretKey)
      const hit = cache.get(hash)
      const wall = Date.now()
      if (hit && hit.until > wall) return hit.instance
      const row = await store.findByKeyHash(db, hash)
      if (!row) return null
      const instance = toInstance(row)
      if (cache.size > 10_000) cache.clear()
      cache.set(hash, { instance, until: wall + CACHE_MS })
      return instance
    },

    async update(instance: Instance, body: UpdateInstanceBody): Promise<Instance> {
      for (const param of ['home_url', 'after_sign_up_url'] as const) {
        const value = body[param]
        if (typeof value === 'string') body[param] = checkRedirectUrl(value, allowedRedirectOrigins, param)
      }
      const row = await store.update(db, instance.id, {
        name: body.application_name,
        sign_up_mode: body.sign_up_mode,
        ...('home_url' in body ? { home_url: body.home_url ?? null } : {}),
        ...('after_sign_up_url' in body ? { after_sign_up_url: body.after_sign_up_url ?? null } : {}),
        rate_limits: body.rate_limits,
      }, clock.now())
      if (!row) throw notFound('instance')
      forget(instance.id)
      return toInstance(row)
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
