import { Type } from 'typebox'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { ApiError } from '../platform/errors.js'
import { html } from '../platform/html.js'
import type { Instance } from '../instance/instance.schemas.js'
import { linkUnusable, type InvitationLinkService, type LinkState } from '../invitation-links/invitation-links.service.js'
import { sendPage } from './conventions.js'
import { joinCodePage, joinLinkPage, messagePage, type FormError } from './pages.views.js'

export interface JoinPageContext {
  links: InvitationLinkService
  csrfFor(reply: FastifyReply): string
  formsFor(reply: FastifyReply, instance: Instance): FastifyReply
  local(instance: Instance, path: string, params?: Record<string, string>): Promise<string>
  formError(err: unknown): FormError & { status: number }
  /** Per IP and per link. */
  limit(req: FastifyRequest, linkId: string): Promise<void>
  csrfProtection: FastifyInstance['csrfProtection']
}

const Text = Type.Optional(Type.String({ maxLength: 4096 }))
const JoinQuery = Type.Object({ token: Text, attempt: Text, instance: Text })
const JoinBody = Type.Object({ _csrf: Text, token: Text, attempt: Text, email_address: Text, code: Text, instance: Text })

type Usable = Extract<LinkState, { kind: 'usable' }>

function usableOrThrow(state: LinkState): Usable {
  if (state.kind !== 'usable') throw linkUnusable(state)
  return state
}

/**
 * An invitation link's pages (README, "Invitation links"): `/join?token=…` asks for an address
 * (opening it changes nothing, so mail scanners cannot use it up), `/join/verify` takes the
 * emailed code back; then the link's personal invitation leads on to sign-up or sign-in.
 */
export function joinPageRoutes(app: FastifyInstance, ctx: JoinPageContext) {
  const typed = app.withTypeProvider<TypeBoxTypeProvider>()
  const { links } = ctx

  const linkForm = (reply: FastifyReply, status: number, state: Usable, token: string, email: string | null, error: FormError | null) =>
    sendPage(ctx.formsFor(reply, state.instance), status, joinLinkPage({
      app: state.instance.name, organization: state.organizationName, domains: state.link.allowed_domains, email, error,
      form: { action: '/join', csrf: ctx.csrfFor(reply), hidden: { token } },
    }))

  const codeForm = async (reply: FastifyReply, status: number, instance: Instance, attempt: { id: string; email_address: string; link_id: string }, error: FormError | null) =>
    sendPage(ctx.formsFor(reply, instance), status, joinCodePage({
      app: instance.name, email: attempt.email_address, error, restartUrl: await links.linkUrlOf(attempt.link_id),
      form: { action: '/join/verify', csrf: ctx.csrfFor(reply), hidden: { attempt: attempt.id } },
    }))

  async function attemptOrNotFound(id: string | undefined) {
    const found = await links.attempt(id)
    if (!found) throw new ApiError(404, 'resource_not_found', 'not found', 'This code request was not found. Open the invitation link again.')
    return { attempt: found.attempt, state: usableOrThrow(found.state) }
  }

  typed.get('/join', { schema: { hide: true, querystring: JoinQuery } }, async (req, reply) => {
    const token = req.query.token ?? ''
    const state = usableOrThrow(await links.resolve(token))
    return linkForm(reply, 200, state, token, null, null)
  })

  typed.post('/join', { schema: { hide: true, body: JoinBody }, preHandler: ctx.csrfProtection }, async (req, reply) => {
    const token = req.body.token ?? ''
    const state = usableOrThrow(await links.resolve(token))
    await ctx.limit(req, state.link.id)
    const email = req.body.email_address ?? ''
    try {
      const { attemptId } = await links.start(token, email)
      return reply.redirect(await ctx.local(state.instance, '/join/verify', { attempt: attemptId }), 303)
    } catch (err) {
      const { status, ...error } = ctx.formError(err)
      return linkForm(reply, status, state, token, email, error)
    }
  })

  typed.get('/join/verify', { schema: { hide: true, querystring: JoinQuery } }, async (req, reply) => {
    const { attempt, state } = await attemptOrNotFound(req.query.attempt)
    if (attempt.status !== 'pending') return codeUsed(reply, state.instance)
    return codeForm(reply, 200, state.instance, attempt, null)
  })

  typed.post('/join/verify', { schema: { hide: true, body: JoinBody }, preHandler: ctx.csrfProtection }, async (req, reply) => {
    const { attempt, state } = await attemptOrNotFound(req.body.attempt)
    await ctx.limit(req, state.link.id)
    const { instance } = state
    let done: Awaited<ReturnType<InvitationLinkService['redeem']>>
    try {
      done = await links.redeem(attempt.id, req.body.code ?? '')
    } catch (err) {
      if (err instanceof ApiError && (err.code === 'verification_failed' || err.code === 'verification_expired')) return codeUsed(reply, instance, err.status, err.longMessage)
      const { status, ...error } = ctx.formError(err)
      return codeForm(reply, status, instance, attempt, error)
    }
    if (done.kind === 'invitation') return reply.redirect(done.url, 303)
    const signIn: [string, string] = [await ctx.local(instance, '/sign-in'), 'Sign in']
    const where = done.organizationName ?? instance.name
    const text = {
      has_account: html`<strong>${done.emailAddress}</strong> already has an account on ${instance.name}: sign in with it.`,
      already_used: html`<strong>${done.emailAddress}</strong> has already used this link to join ${where}: sign in with it.`,
      already_member: html`<strong>${done.emailAddress}</strong> is already a member of ${where}: sign in with it.`,
      pending_invitation: html`<strong>${done.emailAddress}</strong> already has an invitation to ${where}: open the link in its email, or sign in.`,
    }[done.kind]
    return sendPage(reply, 200, messagePage({ app: instance.name, title: 'Nothing more to do here', text: [text], links: [signIn] }))
  })

  async function codeUsed(reply: FastifyReply, instance: Instance, status = 410, text = 'This code was used already, or can no longer be used. Open the invitation link again to get a new one.') {
    return sendPage(reply, status, messagePage({
      app: instance.name, title: 'This code can no longer be used', text: [text], links: [[await ctx.local(instance, '/sign-in'), 'Sign in']],
    }))
  }
}
