import type { IncomingMessage } from 'node:http'
import type { FastifyRequest } from 'fastify'
import { paramError } from '../platform/errors.js'

// Paths as routed (after instance-path.ts took off any /fapi/<ins_…> prefix). /v1/organizations
// is the Backend API's too: there only a call without an Authorization header is the Frontend API's.
const FRONTEND_PATH = /^\/v1\/(?:client|environment|me|organizations)(?:[/?]|$)/
const OVERRIDES = new Set(['PATCH', 'DELETE', 'PUT'])
const REFUSED = Symbol('foyer.methodOverrideRefused')

type Marked = IncomingMessage & { [REFUSED]?: string }

/**
 * clerk-js sends every PATCH, DELETE and PUT of the Frontend API as a POST naming the real
 * method in `?_method=` (a simple request: no CORS preflight). Called before routing, with the
 * URL as it will be routed: a POST with `_method=PATCH|DELETE|PUT` on a Frontend API path is
 * routed as that method. Any other `_method` there is remembered for refuseMethodOverride,
 * which the Frontend API's plugins run once CORS headers are set, so the page can read why.
 */
export function applyMethodOverride(req: IncomingMessage, url: string): void {
  if (req.method === 'OPTIONS' || !FRONTEND_PATH.test(url)) return
  const queryAt = url.indexOf('?')
  if (queryAt === -1) return
  const wanted = new URLSearchParams(url.slice(queryAt + 1)).getAll('_method')
  if (wanted.length === 0) return
  if (url.startsWith('/v1/organizations') && req.headers.authorization !== undefined) return
  const method = wanted.length === 1 ? wanted[0]!.toUpperCase() : ''
  if (req.method === 'POST' && OVERRIDES.has(method)) req.method = method
  else (req as Marked)[REFUSED] = wanted.join(',')
}

/** 422 naming `_method` for a request applyMethodOverride could not honour. */
export function refuseMethodOverride(request: FastifyRequest): void {
  const refused = (request.raw as Marked)[REFUSED]
  if (refused === undefined) return
  throw paramError(422, 'form_param_value_invalid', '_method', 'is invalid',
    `_method overrides a POST with PATCH, DELETE or PUT, once; ${JSON.stringify(refused.slice(0, 50))} on a ${request.raw.method} is not one of those.`)
}
