import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import rateLimit from '@fastify/rate-limit'
import { ApiError, invalidParam } from '../platform/errors.js'
import type { Instance } from '../instance/instance.schemas.js'
import { EVENT_TYPES, type EndpointRow } from '../webhooks/webhooks.schemas.js'
import { newWebhookSecret } from '../webhooks/webhooks.service.js'
import { createWebhookStore } from '../webhooks/webhooks.store.js'
import { retryLimiter } from '../webhooks/webhooks.retry-limit.js'
import type { DashboardContext, DashboardSection } from './dashboard.context.js'
import type { FormError } from './dashboard.views.js'
import {
  deleteEndpointBody, EMPTY_ENDPOINT, endpointBody, webhooksListBody, webhooksPath, type EndpointValues, type ListedDelivery,
} from './webhooks.views.js'

const ENDPOINTS_PAGE = 50
const DELIVERIES_PAGE = 20
const MAX_OFFSET = 100_000

// Fixed texts, chosen by a code in the redirect's query: nothing typed into a URL is echoed.
const NOTICES: Record<string, string> = {
  created: 'The endpoint was added. Reveal its secret below to set up the receiver.',
  updated: 'The endpoint was saved.',
  enabled: 'The endpoint is enabled: new events are sent to it.',
  disabled: 'The endpoint is disabled: it receives nothing, not even later.',
  retried: 'The delivery is due now; the log shows the outcome shortly.',
  deleted: 'The endpoint was deleted, with its delivery log.',
}

type Query = Record<string, string | undefined>
const noticeOf = (query: unknown) => NOTICES[(query as Query).notice ?? ''] ?? null
const offsetOf = (query: unknown) => {
  const raw = (query as Query).offset ?? ''
  return /^\d{1,9}$/.test(raw) ? Math.min(Number(raw), MAX_OFFSET) : 0
}

function endpointValues(body: unknown): EndpointValues {
  const b = (body ?? {}) as Record<string, unknown>
  const types = b.event_types
  const list = Array.isArray(types) ? types : types === undefined ? [] : [types]
  return {
    url: typeof b.url === 'string' ? b.url.trim() : '',
    eventTypes: list.filter((t): t is string => typeof t === 'string' && t !== ''),
    enabled: typeof b.enabled === 'string' && b.enabled !== '',
  }
}

/** Only the listed event types; the service's body schema checks these on the API, not in the service. */
// The body schema's union of literals comes out of Static as never[]: the checked list is cast to it.
function eventTypesOf(values: EndpointValues): never[] {
  const unknown = values.eventTypes.find((t) => !(EVENT_TYPES as readonly string[]).includes(t))
  if (unknown !== undefined) throw invalidParam('event_types', `${unknown} is not an event type.`)
  return [...new Set(values.eventTypes)] as never[]
}

function refusal(err: unknown): FormError & { status: number } {
  if (!(err instanceof ApiError) || err.status >= 500 || err.status === 429) throw err
  const param = typeof err.meta.param_name === 'string' ? err.meta.param_name : undefined
  const message = param === 'url' ? err.longMessage.replace(/^url must be/, 'The URL must be') : err.longMessage
  return { status: err.status, message, ...(param ? { param } : {}) }
}

const valuesOf = (e: EndpointRow): EndpointValues => ({ url: e.url, eventTypes: e.event_types, enabled: e.enabled })

/**
 * The instance's webhook endpoints: list and add (URL, event filter), and per endpoint its
 * secret (revealed on demand, rotated), enable/disable, edit, delete, and the delivery log
 * with each event's payload and a retry. Everything goes through the webhooks service; the
 * stored payload of an event, which it has no verb for, is read from its store.
 */
export const webhooksSection: DashboardSection = {
  key: 'webhooks',
  label: 'Webhooks',
  path: 'webhooks',
  routes: (ctx: DashboardContext) => async (app: FastifyInstance) => {
    const { webhooks } = ctx.deps.services
    const { db } = ctx.deps
    const store = createWebhookStore()
    // Retries by hand count as the API's do, under the same keys (shared with it through Redis).
    if (!app.hasDecorator('createRateLimit')) {
      await app.register(rateLimit, { global: false, skipOnError: true, ...(ctx.deps.redis ? { redis: ctx.deps.redis, nameSpace: 'foyer-rl:' } : {}) })
    }
    const limitRetry = retryLimiter(app)
    const idOf = (req: FastifyRequest) => (req.params as { endpoint_id: string }).endpoint_id

    async function listPage(req: FastifyRequest, reply: FastifyReply, add: { values: EndpointValues; error: FormError | null; open: boolean }, status = 200) {
      const instance = req.instance
      const offset = offsetOf(req.query)
      const { data, totalCount } = await webhooks.list(instance, { limit: ENDPOINTS_PAGE, offset })
      return ctx.render(req, reply, {
        status, title: 'Webhooks', section: 'webhooks',
        body: webhooksListBody({ instance, csrf: ctx.csrf(reply), endpoints: data, total: totalCount, offset, limit: ENDPOINTS_PAGE, notice: status === 200 ? noticeOf(req.query) : null, add }),
      })
    }

    async function endpointPage(req: FastifyRequest, reply: FastifyReply, p: { endpoint?: EndpointRow; secret?: string | null; edit?: { values: EndpointValues; error: FormError | null }; status?: number; notice?: string | null }) {
      const instance: Instance = req.instance
      const endpoint = p.endpoint ?? await webhooks.get(instance, idOf(req))
      const offset = offsetOf(req.query)
      const { data, totalCount } = await webhooks.listDeliveries(instance, endpoint.id, { limit: DELIVERIES_PAGE, offset })
      const deliveries: ListedDelivery[] = await Promise.all(data.map(async (row) => {
        const { payload } = await store.deliveryContext(db, endpoint.id, row.event_id)
        return { row, payload: payload === null ? null : JSON.stringify(payload, null, 2) }
      }))
      return ctx.render(req, reply, {
        status: p.status ?? 200, title: 'Webhook endpoint', section: 'webhooks',
        body: endpointBody({
          instance, csrf: ctx.csrf(reply), endpoint, secret: p.secret ?? null, deliveries, total: totalCount, offset, limit: DELIVERIES_PAGE,
          notice: p.notice !== undefined ? p.notice : noticeOf(req.query), edit: p.edit ?? { values: valuesOf(endpoint), error: null },
        }),
      })
    }

    const back = (instance: Instance, id: string, notice: string) => `${webhooksPath(instance, `/${id}`)}?notice=${notice}`

    app.get('/webhooks', { schema: { hide: true } }, async (req, reply) =>
      listPage(req, reply, { values: EMPTY_ENDPOINT, error: null, open: false }))

    app.post('/webhooks', { schema: { hide: true } }, async (req, reply) => {
      const instance = req.instance
      const values = endpointValues(req.body)
      try {
        const created = await webhooks.create(instance, { url: values.url, event_types: eventTypesOf(values), enabled: values.enabled })
        return reply.redirect(back(instance, created.id, 'created'), 303)
      } catch (err) {
        const error = refusal(err)
        return listPage(req, reply, { values, error, open: true }, error.status)
      }
    })

    app.get('/webhooks/:endpoint_id', { schema: { hide: true } }, async (req, reply) => endpointPage(req, reply, {}))

    app.post('/webhooks/:endpoint_id', { schema: { hide: true } }, async (req, reply) => {
      const instance = req.instance
      const endpoint = await webhooks.get(instance, idOf(req))
      const values = { ...endpointValues(req.body), enabled: endpoint.enabled }
      try {
        await webhooks.update(instance, endpoint.id, { url: values.url, event_types: eventTypesOf(values) })
        return reply.redirect(back(instance, endpoint.id, 'updated'), 303)
      } catch (err) {
        const error = refusal(err)
        return endpointPage(req, reply, { endpoint, edit: { values, error }, status: error.status, notice: null })
      }
    })

    // Revealed by a POST, so that a link, a prefetch or the history never shows it.
    app.post('/webhooks/:endpoint_id/secret', { schema: { hide: true } }, async (req, reply) => {
      const endpoint = await webhooks.get(req.instance, idOf(req))
      return endpointPage(req, reply, { endpoint, secret: endpoint.secret, notice: null })
    })

    app.post('/webhooks/:endpoint_id/rotate', { schema: { hide: true } }, async (req, reply) => {
      const endpoint = await webhooks.update(req.instance, idOf(req), { secret: newWebhookSecret() })
      return endpointPage(req, reply, { endpoint, secret: endpoint.secret, notice: 'The secret was rotated: requests are signed with this new one from now on.' })
    })

    for (const [action, enabled] of [['enable', true], ['disable', false]] as const) {
      app.post(`/webhooks/:endpoint_id/${action}`, { schema: { hide: true } }, async (req, reply) => {
        const endpoint = await webhooks.update(req.instance, idOf(req), { enabled })
        return reply.redirect(back(req.instance, endpoint.id, enabled ? 'enabled' : 'disabled'), 303)
      })
    }

    app.post('/webhooks/:endpoint_id/deliveries/:delivery_id/retry', { schema: { hide: true } }, async (req, reply) => {
      const instance = req.instance
      const endpoint = await webhooks.get(instance, idOf(req))
      const deliveryId = (req.params as { delivery_id: string }).delivery_id
      // The delivery must be this endpoint's: ids of another endpoint or instance are not found.
      const delivery = await store.findDelivery(db, instance.id, deliveryId)
      if (!delivery || delivery.endpoint_id !== endpoint.id) throw new ApiError(404, 'resource_not_found', 'not found', 'No webhook delivery was found.')
      await limitRetry(req, endpoint.id)
      await webhooks.retry(instance, deliveryId)
      return reply.redirect(back(instance, endpoint.id, 'retried'), 303)
    })

    // Deleting asks first: a GET shows what will be deleted, only the POST from that page deletes.
    app.get('/webhooks/:endpoint_id/delete', { schema: { hide: true } }, async (req, reply) => {
      const endpoint = await webhooks.get(req.instance, idOf(req))
      return ctx.render(req, reply, { title: 'Delete webhook endpoint', section: 'webhooks', body: deleteEndpointBody({ instance: req.instance, csrf: ctx.csrf(reply), endpoint }) })
    })

    app.post('/webhooks/:endpoint_id/delete', { schema: { hide: true } }, async (req, reply) => {
      await webhooks.remove(req.instance, idOf(req))
      return reply.redirect(`${webhooksPath(req.instance)}?notice=deleted`, 303)
    })
  },
}
