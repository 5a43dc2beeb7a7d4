import { createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto'
import { promisify } from 'node:util'
import type { Db } from '../platform/db/db.js'
import type { Clock } from '../platform/clock.js'
import { notFound } from '../platform/errors.js'
import { newId } from '../platform/ids.js'
import { seal, unseal } from '../platform/secrets.js'
import type { Instance } from '../instance/instance.schemas.js'
import type { InstanceStore } from '../instance/instance.store.js'
import type { NewSigningKey, SigningKeyRow, SigningKeyStore } from './signing-keys.store.js'
import { toJwk, type Jwks } from './sessions.schemas.js'
import { recordAudit } from '../platform/audit/audit.js'

interface Deps {
  db: Db
  clock: Clock
  store: SigningKeyStore
  /** Rotations of one instance take turns on its row. */
  instances: Pick<InstanceStore, 'lock'>
  /** Seals private keys; never stored in the database. */
  serverSecret: Buffer
  /** How long an instance's current key is served from memory (CURRENT_KEY_CACHE_MS unless given). */
  cacheMs?: number
}

/**
 * How long a retired key stays in the JWKS (server clock): longer than any token it signed can
 * live (about 60 s, plus the 5 s of clock skew Clerk's SDKs allow).
 */
export const RETIRED_KEY_PUBLISHED_MS = 10 * 60 * 1000

/**
 * How long (server clock) a process signs with the current key it last read before reading it
 * again: a query saved on each token. Safe across processes: a key another process has just
 * retired stays in the JWKS for RETIRED_KEY_PUBLISHED_MS, so a token signed with it during
 * these seconds verifies as long as one signed just before the rotation. This process's own
 * rotations take effect at once.
 */
export const CURRENT_KEY_CACHE_MS = 5_000

/** The current signing key as Settings and GET /v1/instance show it: never the private key. */
export interface SigningKeyInfo {
  kid: string
  /** SPKI PEM, RSA-2048 with e = 65537: what `jwtKey` / CLERK_JWT_KEY takes. */
  publicKeyPem: string
  createdAt: number
}

const generateRsa = promisify(generateKeyPair)

// The key's id and instance are sealed in with it: a sealed key copied onto another row does not open.
const sealContext = (instanceId: string, keyId: string) => `signing_key:${instanceId}:${keyId}`

const infoOf = (row: SigningKeyRow): SigningKeyInfo => ({ kid: row.id, publicKeyPem: row.public_key_pem, createdAt: row.created_at })

// Attempts before giving up on a race that keeps being lost; each loss means another writer made progress.
const ATTEMPTS = 3

type Owner = Pick<Instance, 'id'>

export function createSigningKeyService({ db, clock, store, instances, serverSecret, cacheMs = CURRENT_KEY_CACHE_MS }: Deps) {
  // Parsed private keys by kid: unsealing and parsing a PEM costs more than the query that finds the kid.
  const parsed = new Map<string, KeyObject>()
  // Each instance's current key, read at most CURRENT_KEY_CACHE_MS ago.
  const current = new Map<string, { kid: string; privateKey: KeyObject; until: number }>()
  // Bumped by each rotation here: a key read before it is not cached after it.
  let generation = 0

  /**
   * A new key pair for the instance. RSA-2048 with e = 65537 exactly: `loadClerkJwkFromPem` in
   * @clerk/backend accepts no other PEM. Generated on the thread pool (it takes about 100 ms).
   */
  async function generate(instanceId: string): Promise<NewSigningKey> {
    const { publicKey, privateKey } = await generateRsa('rsa', {
      modulusLength: 2048, publicExponent: 0x10001,
      publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    })
    const jwk = createPublicKey(publicKey).export({ format: 'jwk' })
    const now = clock.now()
    const id = newId('jwk', now)
    return {
      id, instance_id: instanceId, sealed_private_key: seal(serverSecret, privateKey, sealContext(instanceId, id)),
      public_key_pem: publicKey, n: jwk.n!, e: jwk.e!, created_at: now,
    }
  }

  /** The instance's current key, made now if it has none. */
  async function currentRow(instance: Owner): Promise<SigningKeyRow> {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const found = await store.findCurrent(db, instance.id)
      if (found) return found
      // Other requests or processes may be making one at this moment: the partial unique index
      // lets exactly one insert win, and every loser reads the winner's key.
      const inserted = await store.insertCurrent(db, await generate(instance.id))
      if (inserted) return inserted
    }
    throw new Error(`no current signing key could be settled for instance ${instance.id}`)
  }

  /**
   * Retires `row` (still current) and makes a new current key, for a key that cannot be
   * unsealed (FOYER_SECRET changed): its public half still verifies what it signed.
   */
  async function replaceUnusable(instance: Owner, row: SigningKeyRow): Promise<void> {
    const key = await generate(instance.id)
    await db.transaction(async (tx) => {
      // Only while it is still current: of the processes that find it at once, one replaces
      // it and the others sign with that replacement.
      if (await store.retireCurrent(tx, instance.id, clock.now(), row.id)) await store.insertCurrent(tx, key)
    })
  }

  return {
    /** The instance's current signing key (public parts), created on first use; race-safe across processes. */
    async current(instance: Owner): Promise<SigningKeyInfo> {
      return infoOf(await currentRow(instance))
    },

    /**
     * The private key to sign the instance's tokens with, and its kid for the token header.
     * For signing only: never to be sent, shown or logged.
     */
    async signingKey(instance: Owner): Promise<{ kid: string; privateKey: KeyObject }> {
      const hit = current.get(instance.id)
      if (hit && hit.until > clock.now()) return { kid: hit.kid, privateKey: hit.privateKey }
      const before = generation
      for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
        const row = await currentRow(instance)
        let privateKey = parsed.get(row.id)
        if (!privateKey) {
          const pem = unseal(serverSecret, row.sealed_private_key, sealContext(instance.id, row.id))
          if (pem === null) {
            await replaceUnusable(instance, row)
            continue
          }
          privateKey = createPrivateKey(pem)
          if (parsed.size > 10_000) parsed.clear()
          parsed.set(row.id, privateKey)
        }
        if (current.size > 10_000) current.clear()
        if (generation === before) current.set(instance.id, { kid: row.id, privateKey, until: clock.now() + cacheMs })
        return { kid: row.id, privateKey }
      }
      throw new Error(`no usable signing key for instance ${instance.id}`)
    },

    /**
     * The public key `kid` names among the instance's keys, current or retired, for as long as
     * Foyer keeps it (longer than the JWKS publishes it): what tells the instance's own tokens
     * from forgeries even once they have expired. Null for another instance's or an unknown kid.
     */
    async publicKey(instance: Owner, kid: string): Promise<KeyObject | null> {
      // A kid comes from a token anyone can write: one not shaped like Foyer's costs no query.
      if (!/^jwk_[A-Za-z0-9]{1,64}$/.test(kid)) return null
      const row = await store.findById(db, instance.id, kid)
      return row ? createPublicKey(row.public_key_pem) : null
    },

    /**
     * The public keys tokens of this instance may be verified with: the current one first, then
     * those retired less than RETIRED_KEY_PUBLISHED_MS ago (server clock), newest first. Never
     * empty: Clerk's SDKs refuse an empty set, so the current key is made if there is none.
     */
    async jwks(instance: Owner): Promise<Jwks> {
      await currentRow(instance)
      const rows = await store.listPublished(db, instance.id, clock.now() - RETIRED_KEY_PUBLISHED_MS)
      return { keys: rows.map(toJwk) }
    },

    /**
     * Retires the current key and makes a new one, in one transaction. Tokens the old key signed
     * keep verifying: it stays in the JWKS for RETIRED_KEY_PUBLISHED_MS. 404 for an instance
     * that no longer exists.
     */
    async rotate(instance: Owner): Promise<SigningKeyInfo> {
      const key = await generate(instance.id)
      const row = await db.transaction(async (tx) => {
        // Under the instance's lock: two rotations at once each retire the other's key in turn.
        if (!await instances.lock(tx, instance.id)) throw notFound('instance')
        const now = clock.now()
        await store.deleteRetired(tx, instance.id, now - RETIRED_KEY_PUBLISHED_MS)
        for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
          await store.retireCurrent(tx, instance.id, now)
          // A first key made at this moment by `current` (which takes no lock) wins the insert:
          // retire that one too, and insert again.
          const inserted = await store.insertCurrent(tx, { ...key, created_at: now })
          if (inserted) {
            await recordAudit(tx, { instanceId: instance.id, action: 'signing_key.rotated', target: { type: 'signing_key', id: inserted.id } }, now)
            return inserted
          }
        }
        throw new Error(`the signing key of instance ${instance.id} could not be rotated`)
      })
      generation++
      current.delete(instance.id)
      return infoOf(row)
    },
  }
}

export type SigningKeyService = ReturnType<typeof createSigningKeyService>
