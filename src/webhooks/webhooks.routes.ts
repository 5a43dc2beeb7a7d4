import { Type } from 'typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ClerkErrorsRef, paginated } from '../platform/openapi.js'
import type { WebhookService } from './webhooks.service.js'
import { RETRY_LIMITS, retryLimiter } from './webhooks.retry-limit.js'
import {
  CreateEndpointBody, DeletedEndpoint, DeliveryIdParams, EndpointIdParams, ListQuery, UpdateEndpointBody,
  WebhookDelivery, WebhookEndpoint, toWebhookDelivery, toWebhookEndpoint,
} from './webhooks.schemas.js'

const tags = ['Webhooks']
const errors = { 400: ClerkErrorsRef, 401: ClerkErrorsRef, 404: ClerkErrorsRef, 422: ClerkErrorsRef }
const URL_CHECK = 'A `url` that is not a public internet address (see the field) is refused with 422 naming `url`; '
  + 'deliveries check the address again when they connect, and one refused then fails without a retry.'

/** Foyer extensions: Clerk manages endpoints in its dashboard (through Svix), not its Backend API. */
export const webhookRoutes = (deps: { webhooks: WebhookService }): FastifyPluginAsyncTypebox => async (app) => {
  const limitRetry = retryLimiter(app)

  // Clerk answers 200 on create; kept the same here.
  app.post('/v1/webhooks/endpoints', {
    schema: {
      operationId: 'CreateWebhookEndpoint', tags, body: CreateEndpointBody,
      description: `The answer carries the signing secret; later reads do not. ${URL_CHECK}`,
      response: { 200: WebhookEndpoint, ...errors },
    },
  }, async (req) => toWebhookEndpoint(await deps.webhooks.create(req.instance, req.body), true))

  app.get('/v1/webhooks/endpoints', {
    schema: {
      operationId: 'ListWebhookEndpoints', tags, querystring: ListQuery,
      description: 'Newest first. `paginated=true` answers `{data, total_count}`; otherwise a plain array.',
      response: { 200: paginated(WebhookEndpoint), ...errors },
    },
  }, async (req, reply) => {
    const { data, totalCount } = await deps.webhooks.list(req.instance, req.query)
    // Both shapes are built exactly; plain JSON spares the serializer trying each branch.
    reply.type('application/json').serializer(JSON.stringify)
    const items = data.map((row) => toWebhookEndpoint(row))
    return req.query.paginated ? { data: items, total_count: totalCount } : items
  })

  app.get('/v1/webhooks/endpoints/:endpoint_id', {
    schema: { operationId: 'GetWebhookEndpoint', tags, params: EndpointIdParams, response: { 200: WebhookEndpoint, ...errors } },
  }, async (req) => toWebhookEndpoint(await deps.webhooks.get(req.instance, req.params.endpoint_id)))

  app.patch('/v1/webhooks/endpoints/:endpoint_id', {
    schema: {
      operationId: 'UpdateWebhookEndpoint', tags, params: EndpointIdParams, body: UpdateEndpointBody,
      description: `Changes only the fields sent. A new \`secret\` signs every delivery from now on, retries included. ${URL_CHECK}`,
      response: { 200: WebhookEndpoint, ...errors },
    },
  }, async (req) => toWebhookEndpoint(await deps.webhooks.update(req.instance, req.params.endpoint_id, req.body)))

  app.delete('/v1/webhooks/endpoints/:endpoint_id', {
    schema: {
      operationId: 'DeleteWebhookEndpoint', tags, params: EndpointIdParams,
      description: 'Deletes the endpoint with its delivery log; nothing still queued for it is sent.',
      response: { 200: DeletedEndpoint, ...errors },
    },
  }, async (req) => deps.webhooks.remove(req.instance, req.params.endpoint_id))

  app.get('/v1/webhooks/endpoints/:endpoint_id/deliveries', {
    schema: {
      operationId: 'ListWebhookDeliveries', tags, params: EndpointIdParams, querystring: ListQuery,
      description: 'The delivery log, newest first; each delivery lists its attempts.',
      response: { 200: paginated(WebhookDelivery), ...errors },
    },
  }, async (req, reply) => {
    const { data, totalCount } = await deps.webhooks.listDeliveries(req.instance, req.params.endpoint_id, req.query)
    reply.type('application/json').serializer(JSON.stringify)
    const items = data.map(toWebhookDelivery)
    return req.query.paginated ? { data: items, total_count: totalCount } : items
  })

  app.post('/v1/webhooks/deliveries/:delivery_id/retry', {
    schema: {
      operationId: 'RetryWebhookDelivery', tags, params: DeliveryIdParams,
      description: 'Makes the delivery due now. A failed delivery gets one more attempt; a delivered one is sent again with the same `svix-id`. '
        + `Limited to ${RETRY_LIMITS.perEndpoint} retries per hour per endpoint and ${RETRY_LIMITS.perInstance} per instance (429 with Retry-After past that).`,
      response: { 200: WebhookDelivery, ...errors, 429: ClerkErrorsRef },
    },
  }, async (req) => {
    const delivery = await deps.webhooks.getDelivery(req.instance, req.params.delivery_id)
    await limitRetry(req, delivery.endpoint_id)
    return toWebhookDelivery(await deps.webhooks.retry(req.instance, delivery.id))
  })
}
