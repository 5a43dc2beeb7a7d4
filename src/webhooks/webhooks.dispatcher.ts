import { performance } from 'node:perf_hooks'
import { Webhook } from 'standardwebhooks'
import { Agent, fetch } from 'undici'
import type { Db } from '../platform/db/db.js'
import type { Clock } from '../platform/clock.js'
import type { OutboxRow } from '../platform/outbox/outbox.store.js'
import { PermanentFailure, type OutboxKind } from '../platform/outbox/outbox.worker.js'
import type { TicketService } from '../tickets/tickets.service.js'
import { ClerkInvitation } from '../invitations/invitations.schemas.js'
import { ClerkOrganizationInvitation } from '../organizations/org-invitations.schemas.js'
import type { DeliveryContext, WebhookStore } from './webhooks.store.js'
import { checkedLookup, isAllowedLiteral, TARGET_NOT_ALLOWED, TargetNotAllowedError, type HostResolver } from './webhooks.targets.js'

interface Deps {
  db: Db
  /** The outbox worker's clock: schedules and the delivery log follow it. */
  clock: Clock
  store: WebhookStore
  tickets: TicketService
  /** An email event's bodies and link, rendered again at delivery; null once its invitation is gone. */
  emailBodies: (instanceId: string, invitationId: string, slug: string) => Promise<{ html: string; text: string; url: string } | null>
  testing: boolean
  /** Wall time for `svix-timestamp`: receivers check it against their own clock. */
  wallNow?: () => number
  /** FOYER_WEBHOOK_ALLOW_PRIVATE: deliveries may reach loopback and private networks. */
  allowPrivate: boolean
  /** FOYER_WEBHOOK_URL: the operator's own endpoint, trusted with any address. */
  configuredUrl: string | null
  resolveHost: HostResolver
}

const MINUTE = 60_000
const HOUR = 60 * MINUTE
/** Svix's schedule after the first attempt. */
export const RETRY_DELAYS_MS = [5_000, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 5 * HOUR, 10 * HOUR] as const
export const TIMEOUT_MS = 15_000
const MAX_ERROR_LENGTH = 500
const INVITATION_FIELDS = Object.keys(ClerkInvitation.properties)
const ORG_INVITATION_FIELDS = Object.keys(ClerkOrganizationInvitation.properties)
// Clerk's order for the Email object of `email.created`.
const EMAIL_FIELDS = ['id', 'object', 'slug', 'from_email_name', 'reply_to_email_name', 'to_email_address', 'email_address_id',
  'user_id', 'subject', 'body', 'body_plain', 'status', 'data', 'delivered_by_clerk']

interface DeliveryPayload {
  event_id: string
  endpoint_id: string
}

/**
 * The two outbox kinds behind webhooks. 'webhook' (one per event, written by the change that
 * caused it) fans out into one 'webhook_delivery' per matching endpoint; each of those is then
 * signed, sent and retried on its own, so a slow or failing receiver never holds up another.
 */
export function createWebhookDispatcher(deps: Deps): Record<'webhook' | 'webhook_delivery', OutboxKind> {
  const { db, clock, store, tickets } = deps
  const wallNow = deps.wallNow ?? Date.now
  // Endpoints saved through the API or the dashboard connect through the address check; the
  // operator's own endpoint (FOYER_WEBHOOK_URL) does not, nor any with FOYER_WEBHOOK_ALLOW_PRIVATE.
  // The configured endpoint is trusted only at the configured URL: its row can be edited
  // through the API like any other, and an edited one is checked like any other.
  const configuredUrl = deps.configuredUrl === null ? null : new URL(deps.configuredUrl).href
  const checked = new Agent({ connect: { lookup: checkedLookup(deps.resolveHost) } })
  const isRefusal = (err: unknown) => err instanceof TargetNotAllowedError
    || (err as { cause?: unknown })?.cause instanceof TargetNotAllowedError
  // With FOYER_TESTING=1 the schedule runs 1000 times faster (5 ms … 36 s), so that an
  // end-to-end test against a running server sees retries without waiting hours.
  const retryDelaysMs = deps.testing ? RETRY_DELAYS_MS.map((ms) => ms / 1000) : [...RETRY_DELAYS_MS]

  /** Queues the event for every enabled endpoint that takes its type, in one statement. */
  async function fanOut(item: OutboxRow): Promise<unknown> {
    const endpoints = await store.fanOut(db, { id: item.id, instanceId: item.instance_id, type: item.topic, subjectId: item.subject_id }, clock.now())
    return { endpoints }
  }

  /**
   * The event as sent: Clerk's envelope and field order (jsonb keeps neither), with what
   * carries a working link (an Invitation's `url`, an Email's bodies) derived again from the
   * invitation's current row, or left out once it is deleted.
   */
  async function eventBody(instanceId: string, payload: Record<string, unknown>, invitation: DeliveryContext['invitation']): Promise<string> {
    let data = payload.data as Record<string, unknown>
    if (data?.object === 'invitation' && typeof data.id === 'string') {
      const url = invitation ? tickets.url(invitation) : undefined
      data = Object.fromEntries(INVITATION_FIELDS.filter((k) => (k === 'url' ? url !== undefined : k in data))
        .map((k) => [k, k === 'url' ? url : data[k]]))
    } else if (data?.object === 'organization_invitation' && typeof data.id === 'string') {
      // Clerk's field order, the link derived again, then what only some events carry (the
      // accepting user's id). An invitation deleted meanwhile (with its organization) has no link.
      const url = invitation ? tickets.url(invitation) : undefined
      const extra = Object.keys(data).filter((k) => !ORG_INVITATION_FIELDS.includes(k))
      data = Object.fromEntries([...ORG_INVITATION_FIELDS, ...extra].filter((k) => (k === 'url' ? url !== undefined : k in data))
        .map((k) => [k, k === 'url' ? url : data[k]]))
    } else if (data?.object === 'email') {
      const variables = (data.data ?? {}) as Record<string, unknown>
      const bodies = typeof variables.invitation_id === 'string'
        ? await deps.emailBodies(instanceId, variables.invitation_id, String(data.slug))
        : null
      const full: Record<string, unknown> = bodies
        ? { ...data, body: bodies.html, body_plain: bodies.text, data: { ...variables, url: bodies.url } }
        : data
      data = Object.fromEntries(EMAIL_FIELDS.filter((k) => k in full).map((k) => [k, full[k]]))
    }
    const { data: _data, object, type, timestamp, instance_id, ...rest } = payload
    return JSON.stringify({ data, object, type, timestamp, instance_id, ...rest })
  }

  /**
   * Signs and POSTs one event to one endpoint; throws (to be retried) unless answered 2xx in
   * time. A target that is not a public address fails at once, without a retry.
   */
  async function deliver(item: OutboxRow): Promise<unknown> {
    const { event_id: eventId, endpoint_id: endpointId } = item.payload as DeliveryPayload
    const { endpoint, payload, invitation } = await store.deliveryContext(db, endpointId, eventId)
    // Disabled after the event was queued: it receives nothing, and nothing is retried.
    if (!endpoint || !endpoint.enabled) return { skipped: endpoint ? 'endpoint disabled' : 'endpoint deleted' }
    if (!payload) return { skipped: 'event deleted' }
    const body = await eventBody(item.instance_id, payload, invitation)

    const sentAt = new Date(wallNow())
    // svix-id is the event's id: the same for every endpoint and every retry.
    const signature = new Webhook(endpoint.secret).sign(eventId, sentAt, body)
    const timestamp = String(Math.floor(sentAt.getTime() / 1000))
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'Foyer-Webhooks/1',
      'svix-id': eventId, 'svix-timestamp': timestamp, 'svix-signature': signature,
      // The same values under Standard Webhooks' names, for receivers that expect those.
      'webhook-id': eventId, 'webhook-timestamp': timestamp, 'webhook-signature': signature,
    }

    const attemptedAt = clock.now()
    const started = performance.now()
    let statusCode: number | null = null
    let error: string | null = null
    let isRefused = false
    const isTrusted = deps.allowPrivate || (endpoint.fromConfig && endpoint.url === configuredUrl)
    try {
      // An address in the URL itself is connected to without a lookup: it is checked here.
      if (!isTrusted && !isAllowedLiteral(new URL(endpoint.url))) throw new TargetNotAllowedError()
      // A redirect is not followed: the signed body must reach the configured URL or fail
      // (and a redirect to a private address would bypass the check).
      const res = await fetch(endpoint.url, {
        method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(TIMEOUT_MS), ...(isTrusted ? {} : { dispatcher: checked }),
      })
      statusCode = res.status
      // Read (and drop) the answer so the connection can be reused; its content is not kept.
      await res.arrayBuffer().catch(() => undefined)
      if (res.status < 200 || res.status > 299) error = `HTTP ${res.status}`
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } }
      // A refused target logs no more than that: a status code or ECONNREFUSED would tell
      // what listens at a private address.
      isRefused = isRefusal(err)
      error = isRefused ? TARGET_NOT_ALLOWED
        : e.name === 'TimeoutError' ? `no answer within ${TIMEOUT_MS / 1000} s` : (e.cause?.code ?? e.cause?.message ?? e.message)
    }
    const durationMs = Math.round(performance.now() - started)
    await store.insertAttempt(db, item.id, { statusCode, error: error?.slice(0, MAX_ERROR_LENGTH) ?? null, durationMs, attemptedAt })
    // Retrying a refused target would refuse it again: it fails now.
    if (isRefused) throw new PermanentFailure(TARGET_NOT_ALLOWED)
    if (error !== null) throw new Error(error)
    return { status_code: statusCode }
  }

  return {
    webhook: { deliver: fanOut, retryDelaysMs },
    webhook_delivery: { deliver, retryDelaysMs },
  }
}
