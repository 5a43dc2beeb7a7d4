import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify'
import { ApiError } from '../platform/errors.js'
import type { OperatorRole } from './operators.store.js'

export type { OperatorRole } from './operators.store.js'
export const OPERATOR_ROLES: readonly OperatorRole[] = ['owner', 'admin', 'viewer']

/** What a signed-in operator may do: read fresh from the database on every request, so a change applies at once. */
export interface OperatorAccess {
  role: OperatorRole
  /** True: every instance, present and future. False: only `instanceIds`. */
  allInstances: boolean
  instanceIds: readonly string[]
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The signed-in operator's role and reach; set wherever `operator` is. */
    access: OperatorAccess
  }
  interface FastifyContextConfig {
    /** The least role a dashboard route needs, fixed when the route is registered (see `declareAccess`). */
    requires?: OperatorRole
  }
}

/**
 * Which routes need something other than the default, as `"METHOD /path"` (the path as the
 * route is registered below its area: `/dashboard/<instance id>` for a section, `/dashboard`
 * outside instances). Whatever is not listed gets the default of its area.
 */
export type AccessDeclaration = Readonly<Record<string, OperatorRole>>

const RANK: Record<OperatorRole, number> = { viewer: 0, admin: 1, owner: 2 }
const SAFE_METHODS = new Set(['GET', 'HEAD'])

export const hasRole = (access: OperatorAccess, role: OperatorRole) => RANK[access.role] >= RANK[role]
export const reaches = (access: OperatorAccess, instanceId: string) => access.allInstances || access.instanceIds.includes(instanceId)
export const isReadOnly = (access: OperatorAccess) => !hasRole(access, 'admin')

/**
 * The defaults, chosen so that a page added later is safe without anyone thinking of it:
 * inside an instance, reading needs any role and anything else needs admin; outside instances
 * (operators, creating instances), everything needs owner unless declared otherwise.
 */
export function defaultRequirement(method: string, inInstance: boolean): OperatorRole {
  if (!inInstance) return 'owner'
  return SAFE_METHODS.has(method) ? 'viewer' : 'admin'
}

export const instanceNotFound = () => new ApiError(404, 'resource_not_found', 'not found', 'No such instance exists.')

const ROLE_WORDS: Record<OperatorRole, string> = { owner: 'an owner', admin: 'an admin', viewer: 'a viewer' }

function refusal(access: OperatorAccess, needs: OperatorRole, method: string): ApiError {
  const what = needs === 'owner'
    ? 'Only owners manage operators, instances and keys'
    : 'Your role lets you read this instance but not change it'
  const done = SAFE_METHODS.has(method) ? '' : ', so nothing was done'
  return new ApiError(403, 'not_allowed_access', 'not allowed',
    `${what}${done}. You are ${ROLE_WORDS[access.role]}; ask an owner if you need more.`)
}

/**
 * The one check behind every signed-in dashboard route: an instance the operator does not
 * reach is answered exactly as one that does not exist (404, so other instances' existence
 * does not leak, whatever the method and whatever the role), then the route's requirement.
 */
export function authorize(req: FastifyRequest): void {
  const instanceId = (req.params as { instance_id?: unknown } | undefined)?.instance_id
  if (typeof instanceId === 'string' && !reaches(req.access, instanceId)) throw instanceNotFound()
  const needs = req.routeOptions.config.requires ?? 'owner'
  if (!hasRole(req.access, needs)) throw refusal(req.access, needs, req.method)
}

/**
 * Gives every route registered from here on (in `app` and the plugins it registers) its
 * requirement: `declared` for the routes listed there (full paths), else the default of its
 * area. Answers a check to run once everything is registered: a declaration naming a route
 * that does not exist (renamed, mistyped) stops start-up instead of silently leaving the route
 * at its default.
 */
export function declareAccess(app: FastifyInstance, options: { instancePrefix: string; declared: ReadonlyMap<string, OperatorRole> }): () => void {
  const seen = new Set<string>()
  app.addHook('onRoute', (route: RouteOptions) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    const inInstance = route.url.startsWith(`${options.instancePrefix}/`) || route.url === options.instancePrefix
    let requires: OperatorRole | undefined
    for (const method of methods) {
      const key = `${method} ${route.url.replace(/\/$/, '') || '/'}`
      // A GET's declaration covers the HEAD Fastify adds beside it.
      const getKey = method === 'HEAD' ? key.replace(/^HEAD /, 'GET ') : key
      const declared = options.declared.get(key) ?? options.declared.get(getKey)
      if (declared) seen.add(options.declared.has(key) ? key : getKey)
      const needs = declared ?? defaultRequirement(method, inInstance)
      // One route object for several methods takes the strictest of their requirements.
      if (requires === undefined || RANK[needs] > RANK[requires]) requires = needs
    }
    route.config = { ...route.config, requires }
  })
  return () => {
    const missing = [...options.declared.keys()].filter((key) => !seen.has(key))
    if (missing.length > 0) throw new Error(`dashboard access is declared for routes that do not exist: ${missing.join(', ')}`)
  }
}

/** A section's or area's declaration, its paths made full with `prefix`. */
export const withPrefix = (prefix: string, declared: AccessDeclaration = {}) =>
  Object.entries(declared).map(([key, role]) => {
    const [method, path] = key.split(' ') as [string, string]
    return [`${method} ${(prefix + (path === '/' ? '' : path)) || '/'}`, role] as const
  })
