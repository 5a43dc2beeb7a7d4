import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { Redis } from 'ioredis'
import type { Config } from '../config.js'
import type { Db } from '../platform/db/db.js'
import type { Clock } from '../platform/clock.js'
import type { HtmlValue } from '../platform/html.js'
import type { Services } from '../app.js'
import type { DashboardService, Operator } from './dashboard.service.js'
import type { AccessDeclaration } from './authorization.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The signed-in operator; set on every dashboard route except setup, sign-in and assets. */
    operator: Operator
  }
}

export interface DashboardDeps {
  db: Db
  clock: Clock
  config: Pick<Config, 'publicUrl' | 'allowedRedirectOrigins'>
  /** Shares the sign-in throttle's counters between processes, as for the hosted pages. */
  redis: Redis | null
  services: Services
  /** Seals operators' TOTP secrets. */
  serverSecret: Buffer
}

/** What each section's routes get from the dashboard. */
export interface DashboardContext {
  deps: DashboardDeps
  dashboard: DashboardService
  /** The CSRF token for every form of this answer (one per answer; see dashboard.routes.ts). */
  csrf(reply: FastifyReply): string
  /** Sends a page inside the layout: instance switcher, nav with `section` current, sign-out. */
  render(request: FastifyRequest, reply: FastifyReply, page: { title: string; section: string | null; body: HtmlValue; status?: number }): Promise<FastifyReply>
}

/**
 * One section of the dashboard: a nav entry and its routes. Routes are registered below
 * `/dashboard/:instance_id`, behind the operator session and CSRF checks, with
 * `request.instance` already resolved (an unknown or unreachable instance is a 404 before they
 * run, and a role too low for the route a 403; see `access`); every
 * service call takes that instance, so a page cannot reach another instance's data.
 * Adding a page is one module exporting a section, listed in SECTIONS (dashboard.routes.ts).
 */
export interface DashboardSection {
  key: string
  label: string
  /** Path of the section's main page below `/dashboard/<instance id>/`. */
  path: string
  /**
   * Routes needing another role than the default (reading: any role; anything else: admin),
   * as `"POST /settings/keys/roll": 'owner'`. Checked centrally (authorization.ts), before
   * the route runs; a route listed here that does not exist stops start-up.
   */
  access?: AccessDeclaration
  routes(ctx: DashboardContext): FastifyPluginAsync
}
