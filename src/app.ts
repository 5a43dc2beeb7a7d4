import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import formbody from '@fastify/formbody'
import cookie from '@fastify/cookie'
import swagger from '@fastify/swagger'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Ajv } from 'ajv'
import { randomUUID } from 'node:crypto'
import type { Redis } from 'ioredis'
import type { Config } from './config.js'
import type { Db } from './platform/db/db.js'
import type { Clock } from './platform/clock.js'
import { registerHttpConventions, sendError, writeRawError } from './platform/http.js'
import { ApiError } from './platform/errors.js'
import { redactSecrets } from './platform/redact.js'
import { requireSecretKey } from './platform/auth.js'
import { registerAuditContext } from './platform/audit/audit.js'
import { auditLogRoutes } from './platform/audit/audit.routes.js'
import { createRequestLimits, registerRateLimits } from './platform/rate-limit.js'
import { cachedSerializerCompiler } from './platform/serializers.js'
import { ClerkErrors } from './platform/openapi.js'
import { createInstanceStore } from './instance/instance.store.js'
import { createInstanceService } from './instance/instance.service.js'
import { instanceRoutes } from './instance/instance.routes.js'
import { createInvitationStore } from './invitations/invitations.store.js'
import { createInvitationService } from './invitations/invitations.service.js'
import { invitationRoutes } from './invitations/invitations.routes.js'
import { createExpirySweep } from './invitations/expiry-sweep.js'
import { createEmailStore } from './email/email.store.js'
import { createEmailService } from './email/email.service.js'
import { emailRoutes } from './email/email.routes.js'
import { devMailboxRoutes } from './email/dev-mailbox.routes.js'
import { createTicketService } from './tickets/tickets.service.js'
import { createOutboxStore } from './platform/outbox/outbox.store.js'
import { createOutboxWorker, type OutboxKind } from './platform/outbox/outbox.worker.js'
import { createRetentionPruner } from './platform/outbox/outbox.retention.js'
import { createWebhookStore } from './webhooks/webhooks.store.js'
import { createWebhookService } from './webhooks/webhooks.service.js'
import { createWebhookDispatcher } from './webhooks/webhooks.dispatcher.js'
import { webhookRoutes } from './webhooks/webhooks.routes.js'
import { systemResolver, type HostResolver } from './webhooks/webhooks.targets.js'
import { createAcceptStore } from './accept/accept.store.js'
import { createAcceptService } from './accept/accept.service.js'
import { createSignInThrottle, memoryCounter, redisCounter } from './accept/sign-in-throttle.js'
import { frontendRoutes } from './frontend/frontend.routes.js'
import { orgFrontendRoutes } from './frontend/org-frontend.routes.js'
import { environmentRoutes } from './frontend/environment.routes.js'
import { unprefixedFrontendPath } from './frontend/instance-path.js'
import { loadClerkJsBundles } from './frontend/clerk-js-bundles.js'
import { clerkJsBundleRoutes } from './frontend/clerk-js-bundles.routes.js'
import { applyMethodOverride, refuseMethodOverride } from './frontend/method-override.js'
import { sessionCookie } from './accept/session-cookie.js'
import { createHandshakeStore } from './sessions/handshake.store.js'
import { createHandshakeService } from './sessions/handshake.js'
import { handshakePayloadRoutes, handshakeRoutes } from './sessions/handshake.routes.js'
import { createUserStore } from './users/users.store.js'
import { createUserService } from './users/users.service.js'
import { userRoutes } from './users/users.routes.js'
import { createEmailAddressService } from './users/email-addresses.service.js'
import { createEmailAddressStore } from './users/email-addresses.store.js'
import { emailAddressRoutes } from './users/email-addresses.routes.js'
import { createWaitlistStore } from './waitlist/waitlist.store.js'
import { createWaitlistService } from './waitlist/waitlist.service.js'
import { waitlistRoutes } from './waitlist/waitlist.routes.js'
import { createRestrictionStore } from './restrictions/restrictions.store.js'
import { createRestrictionService } from './restrictions/restrictions.service.js'
import { restrictionRoutes } from './restrictions/restrictions.routes.js'
import { ticketRoutes } from './tickets/tickets.routes.js'
import { createSignInTokenService } from './sign-in-tokens/sign-in-tokens.service.js'
import { signInTokenRoutes } from './sign-in-tokens/sign-in-tokens.routes.js'
import { pageRoutes } from './pages/pages.routes.js'
import { createCodeEmails } from './accept/code-emails.js'
import { createOrgInvitationStore } from './organizations/org-invitations.store.js'
import { createOrgInvitationService } from './organizations/org-invitations.service.js'
import { orgInvitationRoutes } from './organizations/org-invitations.routes.js'
import { createOrganizationStore } from './organizations/organizations.store.js'
import { createOrganizationService } from './organizations/organizations.service.js'
import { organizationRoutes } from './organizations/organizations.routes.js'
import { createMembershipStore } from './organizations/memberships.store.js'
import { createMembershipService } from './organizations/memberships.service.js'
import { membershipRoutes } from './organizations/memberships.routes.js'
import { createRoleStore } from './organizations/roles.store.js'
import { createRoleService } from './organizations/roles.service.js'
import { roleRoutes } from './organizations/roles.routes.js'
import { createDomainStore } from './organizations/domains.store.js'
import { createDomainService } from './organizations/domains.service.js'
import { domainRoutes } from './organizations/domains.routes.js'
import { dashboardRoutes } from './dashboard/dashboard.routes.js'
import { createPasswordResets, PASSWORD_RESET_LIMITS } from './dashboard/password-reset.js'
import { enrolmentGate } from './dashboard/operator-security.service.js'
import { createDashboardService } from './dashboard/dashboard.service.js'
import { operatorOf } from './dashboard/operator-session.js'
import { createOperatorTeam } from './dashboard/operators.service.js'
import { recordTeamChange } from './dashboard/operators.audit.js'
import { createSigningKeyStore } from './sessions/signing-keys.store.js'
import { createSigningKeyService } from './sessions/signing-keys.service.js'
import { jwksFrontendRoutes, sessionRoutes, signingKeyRoutes } from './sessions/sessions.routes.js'
import { createSessionStore } from './sessions/sessions.store.js'
import { queuedSessionEvent } from './sessions/sessions.events.js'
import { createSessionTokenService } from './sessions/session-tokens.js'
import { createSessionService } from './sessions/sessions.service.js'
import { createSessionRefreshService } from './sessions/session-refresh.js'
import { useScryptCostForTesting } from './users/passwords.js'
import { createMetrics, type Metrics } from './platform/metrics.js'
import { healthRoutes, type Startup } from './platform/health.js'
import { createInvitationLinkStore } from './invitation-links/invitation-links.store.js'
import { createInvitationLinkService } from './invitation-links/invitation-links.service.js'
import { invitationLinkRoutes } from './invitation-links/invitation-links.routes.js'

export interface AppDeps {
  config: Config
  db: Db
  clock: Clock
  serverSecret: Buffer
  redis?: Redis | null
  logger?: FastifyServerOptions['logger']
  /** How webhook target host names are resolved (node:dns by default); tests answer their own. */
  resolveHost?: HostResolver
  /**
   * A process that listens before it has migrated passes this, not yet ready: until it is,
   * readiness answers 503 and so does every request but the health checks and /metrics.
   */
  startup?: Startup
  /**
   * How long a process serves an instance or its current signing key from memory before it
   * reads them again, which bounds how late it sees a change made through another process:
   * the documented 2 and 5 seconds unless given. Tests that spread one client's calls over
   * two apps pass 0.
   */
  cacheMs?: number
}

export type Services = ReturnType<typeof createServices>

export function createServices({ config, db, clock, serverSecret, redis, resolveHost = systemResolver, cacheMs }: AppDeps) {
  const tickets = createTicketService({ serverSecret, publicUrl: config.publicUrl })
  const instanceStore = createInstanceStore()
  const invitationStore = createInvitationStore()
  // The allowlist and blocklist: read by invitations, sign-up and sign-in, hence first.
  const restrictionStore = createRestrictionStore()
  // Organizations come first: invitations into them and acceptance build on memberships. Stores
  // hold no state, so these services take their own outbox and user stores.
  const organizationStore = createOrganizationStore()
  const roleStore = createRoleStore()
  const memberships = createMembershipService({
    db, clock, store: createMembershipStore(), organizations: organizationStore, roles: roleStore, users: createUserStore(), outbox: createOutboxStore(),
  })
  const organizations = createOrganizationService({ db, clock, store: organizationStore, users: createUserStore(), memberships, outbox: createOutboxStore() })
  const roles = createRoleService({ db, clock, store: roleStore })
  const orgInvitationStore = createOrgInvitationStore()
  const orgInvitations = createOrgInvitationService({
    db, clock, store: orgInvitationStore, tickets, allowedRedirectOrigins: config.allowedRedirectOrigins, restrictions: restrictionStore,
  })
  const domains = createDomainService({
    db, clock, serverSecret, store: createDomainStore(), outbox: createOutboxStore(),
    // A full organization, or an address already invited, simply gets no automatic invitation.
    // The savepoint keeps the caller's transaction (a sign-up) usable whatever the refusal was.
    inviteByDomain: async (tx, instance, organizationId, emailAddress) => {
      await tx.query('savepoint domain_invitation')
      try {
        await orgInvitations.create(instance, organizationId, { email_address: emailAddress, role: 'org:member' }, { q: tx, source: 'domain', notify: false })
        await tx.query('release savepoint domain_invitation')
        return true
      } catch (err) {
        if (!(err instanceof ApiError)) throw err
        await tx.query('rollback to savepoint domain_invitation')
        return false
      }
    },
  })
  const instances = createInstanceService({
    db, clock, store: instanceStore, publicUrl: config.publicUrl, serverSecret, pinnedSecretKey: config.secretKey,
    allowedRedirectOrigins: config.allowedRedirectOrigins, testing: config.testing, ...(cacheMs === undefined ? {} : { cacheMs }),
  })
  const invitations = createInvitationService({
    db, clock, store: invitationStore, tickets, allowedRedirectOrigins: config.allowedRedirectOrigins, restrictions: restrictionStore,
  })
  const restrictions = createRestrictionService({ db, clock, store: restrictionStore, invitations })
  const outbox = createOutboxStore()
  // How each kind of outbox item is delivered; every capability that sends something adds its own.
  const deliveries: Record<string, OutboxKind> = {}
  const webhookStore = createWebhookStore()
  const webhooks = createWebhookService({ db, clock, store: webhookStore, allowPrivate: config.webhookAllowPrivate, resolveHost })
  const acceptStore = createAcceptStore()
  // The dashboard's operators: their invitation emails go through the same outbox and mailer.
  const operators = createOperatorTeam({ db, clock, serverSecret, publicUrl: config.publicUrl, outbox, record: recordTeamChange(clock) })
  const email = createEmailService({
    db, clock, store: createEmailStore(), instances: instanceStore, invitations: invitationStore, orgInvitations: orgInvitationStore, tickets, outbox,
    signUpCode: async (attemptId) => {
      const attempt = await acceptStore.findSignUpAttempt(db, attemptId)
      return attempt && { instanceId: attempt.instance_id, to: attempt.email_address, code: accept.codeFor(attempt), expiresAt: attempt.code_expires_at, status: attempt.status }
    },
    domainCode: (domainId) => domains.codeEmail(domainId),
    addressCode: (instanceId, id) => emailAddresses.codeEmail(instanceId, id),
    linkCode: (attemptId) => invitationLinks.codeEmail(attemptId),
    operatorPasswordReset: (resetId, now) => operatorPasswordResets.emailFor(resetId, now),
    operatorInvitation: (invitationId) => operators.email(invitationId),
    smtpUrl: config.smtpUrl, emailFrom: config.emailFrom, publicUrl: config.publicUrl, testing: config.testing,
  })
  deliveries.email = email.delivery
  const operatorPasswordResets = createPasswordResets({
    db, clock, serverSecret, publicUrl: config.publicUrl, outbox,
    throttle: createSignInThrottle({ counter: redis ? redisCounter(redis, memoryCounter(() => clock.now())) : memoryCounter(() => clock.now()), limits: PASSWORD_RESET_LIMITS }),
  })
  Object.assign(deliveries, createWebhookDispatcher({
    db, clock, store: webhookStore, tickets, testing: config.testing, allowPrivate: config.webhookAllowPrivate, configuredUrl: config.webhookUrl, resolveHost,
    emailBodies: email.bodiesFor,
  }))
  const sessionStore = createSessionStore()
  const accept = createAcceptService({
    db, clock, serverSecret, publicUrl: config.publicUrl, allowedRedirectOrigins: config.allowedRedirectOrigins, store: acceptStore, instances: instanceStore, users: createUserStore(),
    invitations: invitationStore, outbox, tickets, restrictions: restrictionStore, organizations: {
      invitations: orgInvitationStore, invitationService: orgInvitations, memberships, organizations: organizationStore,
      activateOrganization: async (tx, instanceId, sessionId, organizationId) => { await sessionStore.activateOrganization(tx, instanceId, { id: sessionId }, organizationId) },
    },
    onUserCreated: domains.enroll,
    // Shared through Redis when there is one, so that several processes count together.
    throttle: createSignInThrottle({ counter: redis ? redisCounter(redis, memoryCounter(() => clock.now())) : memoryCounter(() => clock.now()) }),
  })
  const userStore = createUserStore()
  const users = createUserService({
    db, clock, store: userStore, outbox, onUserCreated: domains.enroll,
    revokeSessions: async (tx, instanceId, user) => {
      const now = clock.now()
      const revoked = await sessionStore.revokeAllOfUser(tx, instanceId, user.id, now)
      if (revoked.length > 0) await outbox.enqueue(tx, revoked.map((row) => queuedSessionEvent('session.revoked', row, user, now)), now)
    },
  })
  const emailAddresses = createEmailAddressService({
    db, clock, store: createEmailAddressStore(), users: userStore, outbox, serverSecret, restrictions: restrictionStore,
    codeEmails: createCodeEmails({ clock, users: userStore, store: acceptStore, outbox }), onVerified: domains.enroll,
  })
  const invitationLinks = createInvitationLinkService({
    db, clock, serverSecret, publicUrl: config.publicUrl, store: createInvitationLinkStore(), instances: instanceStore, users: userStore,
    restrictions: restrictionStore, orgInvitationStore, invitations, orgInvitations, tickets,
    codeEmails: createCodeEmails({ clock, users: userStore, store: acceptStore, outbox }),
  })
  const waitlist = createWaitlistService({ db, clock, store: createWaitlistStore(), invitations, users: userStore })
  const signInTokens = createSignInTokenService({ db, clock, users: userStore })
  const signingKeys = createSigningKeyService({ db, clock, store: createSigningKeyStore(), instances: instanceStore, serverSecret, ...(cacheMs === undefined ? {} : { cacheMs }) })
  const sessionTokens = createSessionTokenService({ db, clock, store: sessionStore, signingKeys, publicUrl: config.publicUrl })
  const sessions = createSessionService({ db, clock, store: sessionStore, tokens: sessionTokens, users: userStore, outbox })
  const handshake = createHandshakeService({
    db, clock, store: createHandshakeStore(), tokens: sessionTokens, sessions: sessionStore, serverSecret, allowedRedirectOrigins: config.allowedRedirectOrigins,
  })
  const sessionRefresh = createSessionRefreshService({ db, clock, store: sessionStore, signingKeys, tokens: sessionTokens, serverSecret })
  return {
    signingKeys, sessionTokens, sessions, sessionRefresh, handshake, tickets, instances, invitations, invitationStore, orgInvitations, orgInvitationStore,
    organizations, memberships, roles, domains, outbox, deliveries, webhooks, email, accept, users, emailAddresses, waitlist, signInTokens, restrictions,
    invitationLinks, operatorPasswordResets, operators,
  }
}

// Bodies must match their schema exactly (no coercion, nothing dropped); query strings are
// text by nature, so they are coerced to the declared types.
const bodyAjv = new Ajv({ coerceTypes: false, useDefaults: false, removeAdditional: false, allErrors: false, strict: false })
const textAjv = new Ajv({ coerceTypes: true, useDefaults: false, removeAdditional: false, allErrors: false, strict: false })


// A hop count as the function Fastify makes of one (its types leave numbers out).
const trustProxyOption = (trust: Config['trustProxy']): FastifyServerOptions['trustProxy'] =>
  typeof trust === 'number' ? (_address: string, hop: number) => hop < trust : typeof trust === 'object' ? [...trust] : trust

// pino answers this; Fastify's logger type does not declare it.
const enabled = (log: unknown, level: string) => (log as { isLevelEnabled?: (l: string) => boolean }).isLevelEnabled?.(level) ?? true

/** One line per request, when it completes, keyed by the trace id clients see as clerk_trace_id. */
class RequestLog extends LogController {
  constructor() {
    super({ requestIdLogLabel: 'traceId' })
  }

  override incomingRequest(request: FastifyRequest): void {
    if (enabled(request.log, 'debug')) request.log.debug({ method: request.method, url: redactSecrets(request.url) }, 'request received')
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (!error && !enabled(reply.log, 'info')) return
    const line = { method: request.method, url: redactSecrets(request.url), status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10, ip: request.ip }
    if (error) reply.log.error({ ...line, err: error }, 'request failed')
    else reply.log.info(line, 'request completed')
  }
}

export async function buildApp(deps: AppDeps): Promise<{
  app: FastifyInstance; services: Services; outboxWorker: ReturnType<typeof createOutboxWorker>; expirySweep: ReturnType<typeof createExpirySweep>
  /** Null unless FOYER_METRICS_PORT or FOYER_METRICS_TOKEN is set: then `listen` serves the port. */
  metrics: Metrics | null
  retention: ReturnType<typeof createRetentionPruner>
}> {
  if (deps.config.scryptLogN !== undefined) useScryptCostForTesting(deps.config.scryptLogN)
  const services = createServices(deps)
  const { metricsPort, metricsToken } = deps.config
  const startup = deps.startup ?? { ready: true }
  // Never public by default: with neither a port of its own nor a token, there is no /metrics at all.
  const metrics = metricsPort === null && metricsToken === null ? null : createMetrics({
    db: deps.db, clock: deps.clock, outbox: services.outbox, kinds: Object.keys(services.deliveries), token: metricsToken, startup,
  })
  const outboxWorker = createOutboxWorker({
    db: deps.db, store: services.outbox, clock: deps.clock, kinds: services.deliveries,
    // A claim must outlast the slowest delivery (webhooks time out at 15 s, SMTP sends at
    // about as much), or a slow item could be delivered twice. With FOYER_TESTING a dead
    // process's items come back sooner, so crash tests need not wait a minute.
    leaseMs: deps.config.outboxLeaseMs ?? (deps.config.testing ? 20_000 : 60_000),
    // Measured: 25 lanes delivered no faster than 10 (397 vs 386 emails/s, 703 vs 711 webhooks/s)
    // and hold more of the 16 pooled connections that requests need.
    concurrency: 10,
    onError: (err, item) => app.log.error({ err, outboxId: item?.id }, 'outbox delivery failed'),
    ...(metrics ? { onAttempt: metrics.delivery } : {}),
  })
  // Expiry events and reminders, queued through the same outbox; started beside its worker.
  const expirySweep = createExpirySweep({
    db: deps.db, clock: deps.clock, invitations: services.invitationStore, orgInvitations: services.orgInvitationStore, outbox: services.outbox,
    onQueued: () => outboxWorker.poke(),
    onError: (err) => app.log.error({ err }, 'expiry sweep failed'),
  })
  // Delivery history past its retention; every process prunes, in small batches.
  const retention = createRetentionPruner({
    db: deps.db, clock: deps.clock, days: deps.config.retentionDays,
    onError: (err) => app.log.error({ err }, 'retention prune failed'),
  })
  const app = Fastify({
    logger: deps.logger ?? false,
    genReqId: () => randomUUID().replaceAll('-', ''),
    rewriteUrl: (req) => {
      const url = unprefixedFrontendPath(req.url ?? '/')
      applyMethodOverride(req, url)
      return url
    },
    logController: new RequestLog(),
    // Off unless configured, so that a forged X-Forwarded-For cannot pick the address that
    // per-IP limits count; behind a proxy, the proxy's own address would lump every client together.
    trustProxy: trustProxyOption(deps.config.trustProxy),
    bodyLimit: 1024 * 1024,
    routerOptions: {
      ignoreTrailingSlash: true,
      // An over-long id is simply one that does not exist.
      maxParamLength: 200,
      onMaxParamLength: (_path, _req, res) => writeRawError(res, new ApiError(404, 'resource_not_found', 'not found', 'No resource with such a long id exists.')),
    },
    frameworkErrors: (_error, request, reply) =>
      sendError(request, reply, new ApiError(404, 'resource_not_found', 'not found', 'The request path is not a valid URL (bad percent-encoding).')),
  }).withTypeProvider<TypeBoxTypeProvider>()

  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? bodyAjv : textAjv).compile(schema))
  // Before any route or plugin, so that every route inherits them.
  if (metrics) {
    app.addHook('onResponse', (request, reply, done) => {
      metrics.observe(request, reply)
      done()
    })
  }
  if (!startup.ready) {
    app.addHook('onRequest', (request, reply, done) => {
      const route = request.routeOptions.url
      if (startup.ready || route?.startsWith('/v1/health') || route === '/metrics') return done()
      // Tables may be half migrated and the default instance not made yet.
      sendError(request, reply, new ApiError(503, 'service_unavailable', 'Starting', 'Foyer is starting (running its migrations); try again shortly.', {}, { 'retry-after': '1' }))
    })
  }
  // Before every route: each request's audit context (actor, IP, trace id), read by the audit log.
  registerAuditContext(app)
  app.addSchema(ClerkErrors)
  app.setSerializerCompiler(cachedSerializerCompiler({ ClerkErrors }))
  // A refused `_method` names itself even where no route matches what the request was sent as.
  registerHttpConventions(app, { unroutable: refuseMethodOverride })
  await app.register(formbody)
  await app.register(cookie)

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Foyer Backend API', version: '1', description: 'Invitations, wire-compatible with Clerk\'s Backend API.' },
      servers: [{ url: deps.config.publicUrl }],
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearerAuth: [] }],
    },
  })

  await app.register(healthRoutes({ db: deps.db, startup }))
  // Only on the main port when a token guards it; a port of its own serves it otherwise.
  if (metrics && metricsPort === null) metrics.route(app)
  app.get('/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger())

  await app.register(async (bapi) => {
    requireSecretKey(bapi, services.instances.authenticateKey)
    await registerRateLimits(bapi, deps.redis ?? null)
    await bapi.register(instanceRoutes({ instances: services.instances, signingKeys: services.signingKeys }))
    await bapi.register(signingKeyRoutes({ signingKeys: services.signingKeys }))
    await bapi.register(sessionRoutes({ sessions: services.sessions, refresh: services.sessionRefresh }))
    await bapi.register(handshakePayloadRoutes({ handshake: services.handshake }))
    await bapi.register(invitationRoutes({ invitations: services.invitations, tickets: services.tickets, clock: deps.clock }))
    await bapi.register(webhookRoutes({ webhooks: services.webhooks }))
    await bapi.register(emailRoutes({ email: services.email }))
    await bapi.register(userRoutes({ users: services.users }))
    await bapi.register(emailAddressRoutes({ emailAddresses: services.emailAddresses }))
    await bapi.register(organizationRoutes({ organizations: services.organizations }))
    await bapi.register(membershipRoutes({ memberships: services.memberships }))
    await bapi.register(roleRoutes({ roles: services.roles }))
    await bapi.register(orgInvitationRoutes({ orgInvitations: services.orgInvitations, clock: deps.clock }))
    await bapi.register(domainRoutes({ domains: services.domains }))
    await bapi.register(signInTokenRoutes({ signInTokens: services.signInTokens, accept: services.accept }))
    await bapi.register(restrictionRoutes({ restrictions: services.restrictions }))
    await bapi.register(invitationLinkRoutes({ links: services.invitationLinks }))
    await bapi.register(waitlistRoutes({ waitlist: services.waitlist, tickets: services.tickets, clock: deps.clock }))
    await bapi.register(auditLogRoutes({ db: deps.db }))
  })
  // The invitation link and the hosted pages: public, HTML, outside the secret-key plugin.
  const { publicUrl, allowedRedirectOrigins } = deps.config
  await app.register(ticketRoutes({ accept: services.accept, allowedRedirectOrigins }))
  // One set of public limits for both faces of sign-up, so that they share one budget per IP.
  const limits = await createRequestLimits(app, deps.redis ?? null)
  await app.register(pageRoutes({ accept: services.accept, emailAddresses: services.emailAddresses, waitlist: services.waitlist, handshake: services.handshake, publicUrl, allowedRedirectOrigins, limits, links: services.invitationLinks }))
  // The Frontend API for custom flows: public too, with CORS for the allowed origins only.
  await app.register(frontendRoutes({
    accept: services.accept, clock: deps.clock, publicUrl, allowedRedirectOrigins, limits, sessions: services.sessions, tokens: services.sessionTokens,
  }), { prefix: '/v1/client' })
  await app.register(environmentRoutes({ accept: services.accept, restrictions: services.restrictions, publicUrl, allowedRedirectOrigins }), { prefix: '/v1/environment' })
  const foyerSession = sessionCookie(publicUrl)
  await app.register(handshakeRoutes({
    handshake: services.handshake, resolveInstance: services.instances.find, allowedRedirectOrigins, limit: limits.handshake,
    // The session alone: the token the handshake mints reads its person, and refuses a session gone meanwhile.
    sessionCookie: (request) => foyerSession.read(request),
  }))
  await app.register(jwksFrontendRoutes({ signingKeys: services.signingKeys, resolveInstance: services.accept.resolveInstance }))
  await app.register(orgFrontendRoutes({ accept: services.accept, emailAddresses: services.emailAddresses, clock: deps.clock, publicUrl, allowedRedirectOrigins, tokens: services.sessionTokens }))
  // clerk-js itself, from Foyer's own dependencies, where Clerk's script loaders look for it.
  await app.register(clerkJsBundleRoutes({ bundles: loadClerkJsBundles() }))
  await app.register(dashboardRoutes({ db: deps.db, clock: deps.clock, config: deps.config, redis: deps.redis ?? null, services, serverSecret: deps.serverSecret }))
  // The development mailbox exists only while no SMTP_URL is set (README, "Email"), for operators only.
  if (services.email.usesDevMailbox) {
    const operators = createDashboardService({ db: deps.db, clock: deps.clock, instances: services.instances })
    const signedIn = operatorOf(operators, deps.config.publicUrl)
    const mustEnrol = enrolmentGate(deps.db)
    // Closed, like the dashboard, to an operator who must set up one-time codes first.
    await app.register(devMailboxRoutes({
      email: services.email,
      operatorOf: async (req) => {
        const operator = await signedIn(req)
        return operator && !await mustEnrol(operator) ? operator : null
      },
      mayRead: async (operator) => (await services.operators.accessOf(operator.id))?.role === 'owner',
    }))
  }
  services.email.useLogger(app.log)
  app.addHook('onClose', async () => services.email.close())
  if (metrics) app.addHook('onClose', async () => metrics.close())

  // A successful write may have queued emails or events: look for them now rather than at
  // the next poll. Other processes find them at their own next poll. Hosted pages answer a
  // successful form post with a redirect (303), so redirects count as success.
  app.addHook('onResponse', (request, reply, done) => {
    if (request.method !== 'GET' && reply.statusCode < 400) outboxWorker.poke()
    done()
  })

  return { app, services, outboxWorker, expirySweep, metrics, retention }
}

export const loggerOptions = (level: string): FastifyServerOptions['logger'] => ({
  level,
  redact: { paths: ['req.headers.authorization', 'req.headers.cookie'], censor: '[redacted]' },
  // Every line, whatever logged it (Fastify's own warnings quote the request URL, errors carry
  // messages and stacks), passes through here on its way out.
  hooks: { streamWrite: redactSecrets },
})
