import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { ServerResponse } from 'node:http'
import { randomBytes } from 'node:crypto'
import { ApiError, paramError, toClerkErrors, type ErrorCode } from './errors.js'

interface AjvError {
  keyword: string
  instancePath: string
  params: Record<string, unknown>
  message?: string
}

const PART_NAMES: Record<string, string> = { body: 'body', querystring: 'query', params: 'path' }

/** Ajv's report on a body or query, as the Clerk error a client can act on (422, with the parameter named). */
export function fromValidation(errors: AjvError[], context: string): ApiError {
  const first = errors.find((e) => e.keyword !== 'anyOf') ?? errors[0]!
  const path = first.instancePath.split('/').filter(Boolean)
  const leaf = first.params.missingProperty ?? first.params.additionalProperty
  if (typeof leaf === 'string') path.push(leaf)
  // Bulk bodies are arrays: item indexes read as `[3].email_address`.
  const param = path.map((p, i) => (/^\d+$/.test(p) ? `[${p}]` : i > 0 ? `.${p}` : p)).join('').replace(/^\./, '')
  const where = param || (PART_NAMES[context] ?? context)
  const [code, message, long]: [ErrorCode, string, string] = (() => {
    switch (first.keyword) {
      case 'required': return ['form_param_missing', 'is missing', `${where} must be included.`]
      case 'additionalProperties': return ['form_param_unknown', 'is unknown', `${where} is not a valid parameter for this request.`]
      case 'type': return ['form_param_type_invalid', 'is invalid', `${where} ${first.message ?? 'has the wrong type'}.`]
      case 'format': return ['form_param_format_invalid', 'is invalid', `${where} ${first.message ?? 'is malformed'}.`]
      case 'maxItems': return ['form_param_value_invalid', 'is invalid', `At most ${first.params.limit} items may be sent in one request.`]
      case 'minItems': return ['form_param_value_invalid', 'is invalid', `At least ${first.params.limit} item must be sent.`]
      case 'const': {
        // A union of literals (an enum): name every allowed value, not just the first.
        const allowed = errors.filter((e) => e.keyword === 'const' && e.instancePath === first.instancePath).map((e) => String(e.params.allowedValue))
        return ['form_param_value_invalid', 'is invalid', `${where} must be one of: ${allowed.join(', ')}.`]
      }
      default: return ['form_param_value_invalid', 'is invalid', `${where} ${first.message ?? 'is invalid'}.`]
    }
  })()
  return new ApiError(422, code, message, long, { param_name: where })
}

/** Any thrown value, as an ApiError; anything unexpected becomes a 500 whose cause stays in the log. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err
  const e = err as FastifyError & { validation?: AjvError[]; validationContext?: string }
  if (e.validation) return fromValidation(e.validation, e.validationContext ?? 'body')
  const status = e.statusCode ?? 500
  if (status >= 400 && status < 500) {
    if (status === 415) return new ApiError(415, 'unsupported_content_type', 'unsupported content type', 'Send the body as application/json or application/x-www-form-urlencoded.')
    if (status === 413) return new ApiError(413, 'request_body_invalid', 'request body too large', 'The request body is larger than Foyer accepts.')
    return new ApiError(status, 'request_body_invalid', 'request body invalid', `The request body could not be read: ${e.message.replace(/^Body /, '')}`)
  }
  return new ApiError(500, 'internal_clerk_error', 'Oops, an unexpected error occurred', 'An unexpected error occurred; it has been logged with this request\'s trace id.')
}

export function sendError(request: FastifyRequest, reply: FastifyReply, err: unknown) {
  const apiError = toApiError(err)
  if (apiError.status >= 500) request.log.error({ err, traceId: request.id }, 'request failed')
  // A route may have set its own serializer before it threw; errors are always plain JSON.
  return reply.code(apiError.status).headers(apiError.headers).type('application/json')
    .serializer(JSON.stringify).send(toClerkErrors(apiError, request.id))
}

/** For the few router errors raised before Fastify has a request or reply to offer. */
export function writeRawError(res: ServerResponse, err: ApiError) {
  res.writeHead(err.status, { 'content-type': 'application/json' })
  res.end(JSON.stringify(toClerkErrors(err, randomBytes(16).toString('hex'))))
}

const BAD_TEXT = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/
const MAX_DEPTH = 32

/**
 * PostgreSQL refuses NUL characters and lone surrogates in text and jsonb, and deep nesting
 * risks its parser's stack; they are refused here, naming the parameter, rather than
 * becoming a database error.
 */
export function checkInput(value: unknown, param: string, depth = 0): void {
  if (typeof value === 'string') {
    if (BAD_TEXT.test(value)) throw paramError(422, 'form_param_format_invalid', param, 'is invalid', `${param} contains characters that are not allowed (NUL or unpaired surrogates).`)
    return
  }
  if (value === null || typeof value !== 'object') return
  if (depth > MAX_DEPTH) throw paramError(422, 'form_param_value_invalid', param, 'is nested too deeply', `${param} may nest at most ${MAX_DEPTH} levels.`)
  if (Array.isArray(value)) {
    value.forEach((v, i) => checkInput(v, depth === 0 ? `[${i}]` : `${param}[${i}]`, depth + 1))
    return
  }
  for (const [k, v] of Object.entries(value)) {
    const name = depth === 0 ? k : `${param}.${k}`
    if (BAD_TEXT.test(k)) throw paramError(422, 'form_param_format_invalid', name, 'is invalid', `${name} contains characters that are not allowed.`)
    checkInput(v, name, depth + 1)
  }
}

/**
 * Form-encoded bodies carry only strings. Values are converted by the route's own schema:
 * booleans and integers from their text, objects (public_metadata) from JSON text.
 */
export function coerceFormBody(body: Record<string, unknown>, schema: { properties?: Record<string, unknown> } | undefined): void {
  const properties = schema?.properties ?? {}
  for (const [key, raw] of Object.entries(body)) {
    if (typeof raw !== 'string') continue
    const types = schemaTypes(properties[key])
    if (types.has('boolean') && (raw === 'true' || raw === 'false')) body[key] = raw === 'true'
    else if (types.has('integer') && /^-?\d{1,15}$/.test(raw)) body[key] = Number(raw)
    else if (types.has('object') && raw.trim().startsWith('{')) {
      let value: unknown
      try {
        value = JSON.parse(raw)
      } catch {
        throw paramError(422, 'form_param_format_invalid', key, 'is invalid', `${key} must be a JSON object.`)
      }
      // Same prototype-pollution guard as JSON bodies get.
      refuseForbiddenKeys(value, key)
      body[key] = value
    }
  }
}

function schemaTypes(schema: unknown, out = new Set<string>()): Set<string> {
  if (!schema || typeof schema !== 'object') return out
  const s = schema as { type?: string | string[]; anyOf?: unknown[]; const?: unknown }
  for (const t of [s.type ?? []].flat()) out.add(t)
  for (const sub of s.anyOf ?? []) schemaTypes(sub, out)
  return out
}

/**
 * A JSON body, refusing the keys that could reach an object's prototype once the value is merged
 * or copied (`__proto__`, and `constructor` holding `prototype`). JSON.parse itself keeps such a
 * key as a harmless own property; it is looked for before the value leaves here, so the client
 * is told which key is refused rather than that the JSON is malformed.
 */
export function parseJsonBody(text: string): unknown {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new ApiError(400, 'request_body_invalid', 'request body invalid', 'The request body is not valid JSON.')
  }
  refuseForbiddenKeys(value, '')
  return value
}

/** 422 naming the first key in `value` (found under `path`) that could reach a prototype. */
export function refuseForbiddenKeys(value: unknown, path: string): void {
  const key = forbiddenKey(value, path)
  if (key) {
    throw paramError(422, 'form_param_value_invalid', key, 'is not allowed',
      `${key} is not allowed: a request may not use the key __proto__, nor a constructor key holding prototype.`)
  }
}

/** The path of the first key in `value` that could reach a prototype, or null. */
export function forbiddenKey(value: unknown, path: string, depth = 0): string | null {
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH + 1) return null
  const entries = Array.isArray(value) ? value.map((v, i) => [`[${i}]`, v] as const) : Object.entries(value).map(([k, v]) => [k, v] as const)
  for (const [k, v] of entries) {
    const name = Array.isArray(value) ? `${path}${k}` : path ? `${path}.${k}` : k
    if (!Array.isArray(value)) {
      if (k === '__proto__') return name
      if (k === 'constructor' && v !== null && typeof v === 'object' && Object.hasOwn(v, 'prototype')) return `${name}.prototype`
    }
    const found = forbiddenKey(v, name, depth + 1)
    if (found) return found
  }
  return null
}

/** Clerk's error shape for every error, 404s included, and JSON typed exactly as the SDK expects. */
/**
 * `unroutable`, when given, may throw its own error for a request no route matched (one whose
 * method was not what its client meant, say) before the 404.
 */
export function registerHttpConventions(app: FastifyInstance, options: { unroutable?: (request: FastifyRequest) => void } = {}) {
  // The official SDK sends `Content-Type: application/json` with an empty body on bodiless
  // POSTs (revoke); Clerk accepts that, so an empty JSON body reads as no body.
  // Bodies are JSON or form-encoded; anything else, text/plain included, is a 415.
  app.removeContentTypeParser(['application/json', 'text/plain'])
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    if (typeof body === 'string' && body.trim() === '') return done(null, undefined)
    try {
      done(null, parseJsonBody(body as string))
    } catch (err) {
      done(err as Error, undefined)
    }
  })

  app.setErrorHandler((err, request, reply) => sendError(request, reply, err))
  app.setNotFoundHandler((request, reply) => {
    try {
      options.unroutable?.(request)
    } catch (err) {
      return sendError(request, reply, err)
    }
    return sendError(request, reply, new ApiError(404, 'resource_not_found', 'not found', `No route ${request.method} ${request.url.split('?')[0]} exists.`))
  })

  // The official SDK parses a body as JSON only when Content-Type is exactly application/json.
  app.addHook('onSend', async (_request, reply, payload) => {
    const type = reply.getHeader('content-type')
    if (typeof type === 'string' && type.startsWith('application/json')) reply.header('content-type', 'application/json')
    return payload
  })

  app.addHook('preValidation', async (request) => {
    const schema = request.routeOptions.schema?.body as { type?: string; properties?: Record<string, unknown> } | undefined
    if (schema && request.body == null && schema.type === 'object') request.body = {}
    const isForm = request.headers['content-type']?.startsWith('application/x-www-form-urlencoded')
    if (isForm && request.body && typeof request.body === 'object') coerceFormBody(request.body as Record<string, unknown>, schema)
    checkInput(request.body, 'body')
    checkInput(request.query, 'query')
    checkInput(request.params, 'path')
  })
}
