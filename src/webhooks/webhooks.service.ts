import { randomBytes } from 'node:crypto'
import type { Db } from '../platform/db/db.js'
import type { Clock } from '../platform/clock.js'
import { newId } from '../platform/ids.js'
import { invalidParam, notFound } from '../platform/errors.js'
import type { Instance } from '../instance/instance.schemas.js'
import type { WebhookStore } from './webhooks.store.js'
import { isAllowedTarget, type HostResolver } from './webhooks.targets.js'
import type { CreateEndpointBody, DeliveryRow, EndpointRow, ListQuery, UpdateEndpointBody } from './webhooks.schemas.js'
import { recordAudit } from '../platform/audit/audit.js'

interface Deps {
  db: Db
  clock: Clock
  store: WebhookStore
  /** FOYER_WEBHOOK_ALLOW_PRIVATE: endpoints may target loopback and private networks. */
  allowPrivate: boolean
  resolveHost: HostResolver
}

// As FOYER_WEBHOOK_SECRET is checked in config.ts: the prefix, then base64.
const SECRET = /^whsec_[A-Za-z0-9+/=]{24,}$/

/** 24 random bytes, as Svix generates them. */
export const newWebhookSecret = () => `whsec_${randomBytes(24).toString('base64')}`

function checkUrl(raw: string): string {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw invalidParam('url', 'url must be an absolute http or https URL.')
  }
  // Credentials in the URL would be shown in every read of the endpoint.
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password) {
    throw invalidParam('url', 'url must be an http or https URL without credentials.')
  }
  return url.href
}

// Said the same way whatever the reason (a private address, a name that does not resolve), so
// that saving an endpoint cannot be used to map the server's network.
const TARGET_REFUSED = 'url must be on the public internet; the address it points to is not allowed.'

function checkSecret(raw: string): string {
  if (!SECRET.test(raw)) throw invalidParam('secret', 'secret must be whsec_ followed by base64 (at least 24 characters).')
  return raw
}

export function createWebhookService({ db, clock, store, allowPrivate, resolveHost }: Deps) {
  /**
   * Refuses a URL whose host is not a public address, or resolves to any address that is not:
   * otherwise an endpoint, its delivery log and its retries would probe the server's own
   * network (cloud metadata, internal services, open ports). Checked again at each delivery.
   */
  async function checkTarget(raw: string): Promise<string> {
    const url = checkUrl(raw)
    if (!allowPrivate && !(await isAllowedTarget(new URL(url), resolveHost))) throw invalidParam('url', TARGET_REFUSED)
    return url
  }

  async function mustFind(instance: Instance, id: string): Promise<EndpointRow> {
    const row = await store.findEndpoint(db, instance.id, id)
    if (!row) throw notFound('webhook endpoint')
    return row
  }

  return {
    /** Creates an endpoint (422 naming `url` for a target that is not public); its secret is generated unless given, and returned with it. */
    async create(instance: Instance, body: CreateEndpointBody): Promise<EndpointRow> {
      const url = await checkTarget(body.url)
      const secret = body.secret === undefined ? newWebhookSecret() : checkSecret(body.secret)
      const now = clock.now(instance)
      return db.transaction(async (tx) => {
        const row = await store.insertEndpoint(tx, {
          id: newId('ep', now), instance_id: instance.id, url, secret, event_types: [...new Set(body.event_types ?? [])],
          enabled: body.enabled ?? true, from_config: false, created_at: now, updated_at: now,
        })
        await recordAudit(tx, { instanceId: instance.id, action: 'webhook_endpoint.created', target: { type: 'webhook_endpoint', id: row.id, label: row.url } }, clock.now())
        return row
      })
    },

    async list(instance: Instance, query: ListQuery): Promise<{ data: EndpointRow[]; totalCount: number }> {
      const { rows, total } = await store.pageEndpoints(db, instance.id, query.limit ?? 10, query.offset ?? 0)
      return { data: rows, totalCount: total }
    },

    get: mustFind,

    async update(instance: Instance, id: string, body: UpdateEndpointBody): Promise<EndpointRow> {
      const changes = {
        url: body.url === undefined ? undefined : await checkTarget(body.url),
        secret: body.secret === undefined ? undefined : checkSecret(body.secret),
        event_types: body.event_types === undefined ? undefined : [...new Set(body.event_types)],
        enabled: body.enabled,
      }
      const row = await db.transaction(async (tx) => {
        const updated = await store.updateEndpoint(tx, instance.id, id, changes, clock.now(instance))
        // Which fields were sent, never their values (a secret above all).
        if (updated) {
          await recordAudit(tx, { instanceId: instance.id, action: 'webhook_endpoint.updated', target: { type: 'webhook_endpoint', id, label: updated.url },
            changedKeys: Object.entries(changes).filter(([, v]) => v !== undefined).map(([k]) => k) }, clock.now())
        }
        return updated
      })
      if (!row) throw notFound('webhook endpoint')
      return row
    },

    /** Deletes the endpoint, its log, and whatever was still to be sent to it. */
    async remove(instance: Instance, id: string): Promise<{ object: 'webhook_endpoint'; id: string; deleted: true }> {
      const removed = await db.transaction(async (tx) => {
        const deleted = await store.deleteEndpoint(tx, instance.id, id)
        if (deleted) await recordAudit(tx, { instanceId: instance.id, action: 'webhook_endpoint.deleted', target: { type: 'webhook_endpoint', id } }, clock.now())
        return deleted
      })
      if (!removed) throw notFound('webhook endpoint')
      return { object: 'webhook_endpoint', id, deleted: true }
    },

    /** The endpoint's deliveries, newest first, each with its attempts. */
    async listDeliveries(instance: Instance, endpointId: string, query: ListQuery): Promise<{ data: DeliveryRow[]; totalCount: number }> {
      await mustFind(instance, endpointId)
      const { rows, total } = await store.pageDeliveries(db, instance.id, endpointId, query.limit ?? 10, query.offset ?? 0)
      return { data: rows, totalCount: total }
    },

    /** One delivery of the instance, with its attempts; 404 when it is not the instance's. */
    async getDelivery(instance: Instance, deliveryId: string): Promise<DeliveryRow> {
      const row = await store.findDelivery(db, instance.id, deliveryId)
      if (!row) throw notFound('webhook delivery')
      return row
    },

    /**
     * Makes a delivery due now: a failed one gets one more attempt, a pending one skips the
     * rest of its wait, a delivered one is sent again (same svix-id, so receivers can tell).
     * One being sent at this moment is left as it is.
     */
    async retry(instance: Instance, deliveryId: string): Promise<DeliveryRow> {
      // Wall time, as the outbox worker schedules by it (not the instance's test clock).
      await store.reschedule(db, instance.id, deliveryId, clock.now())
      const row = await store.findDelivery(db, instance.id, deliveryId)
      if (!row) throw notFound('webhook delivery')
      return row
    },

    /**
     * Makes the instance's configured endpoint (FOYER_WEBHOOK_URL / FOYER_WEBHOOK_SECRET) match
     * the configuration: created or updated when set, disabled when no longer set. Safe to run
     * at every start, by every process. Its URL is the operator's own choice, so it may point
     * at a private address whatever FOYER_WEBHOOK_ALLOW_PRIVATE says.
     */
    async syncConfigEndpoint(instanceId: string, url: string | null, secret: string | null): Promise<void> {
      const now = clock.now()
      if (url === null || secret === null) {
        await store.disableConfigEndpoint(db, instanceId, now)
        return
      }
      await store.upsertConfigEndpoint(db, {
        id: newId('ep', now), instance_id: instanceId, url: checkUrl(url), secret: checkSecret(secret),
        event_types: [], enabled: true, from_config: true, created_at: now, updated_at: now,
      })
    },
  }
}

export type WebhookService = ReturnType<typeof createWebhookService>
