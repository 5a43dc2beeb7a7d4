import type { Db } from '../platform/db/db.js'
import type { Clock } from '../platform/clock.js'
import { ApiError, notFound, paramError } from '../platform/errors.js'
import { PermanentFailure, type OutboxKind } from '../platform/outbox/outbox.worker.js'
import type { NewOutboxItem, OutboxRow, OutboxStore } from '../platform/outbox/outbox.store.js'
import { derivedId } from '../platform/ids.js'
import type { Instance } from '../instance/instance.schemas.js'
import { toInstance } from '../instance/instance.schemas.js'
import type { InstanceStore } from '../instance/instance.store.js'
import type { InvitationStore } from '../invitations/invitations.store.js'
import type { InvitationRow } from '../invitations/invitations.schemas.js'
import type { TicketService } from '../tickets/tickets.service.js'
import type { OrgInvitationStore } from '../organizations/org-invitations.store.js'
import type { OrgInvitationView } from '../organizations/org-invitations.schemas.js'
import type { EmailStore, EmailTemplateRow } from './email.store.js'
import { devMailbox, smtpMailer, type MailLog, type Mailer, type SentEmail } from './email.mailer.js'
import {
  DEFAULT_TEMPLATES, EMAIL_TEMPLATE_SLUGS, TEMPLATE_PARTS, TemplateRenderError, formatExpiry, isOrganizationSlug, isTemplateSlug, renderNow, sampleVariables,
  type EmailTemplateSlug, type RenderedEmail, type TemplatePart, type TemplateSource, type TemplateVariables,
} from './email.templates.js'
import { createTemplateRenderer, RendererBusyError, type TemplateRenderer } from './template-renderer.js'
import type { ClerkEmailDelivery, EmailTemplate, PutEmailTemplateBody } from './email.schemas.js'
import { recordAudit } from '../platform/audit/audit.js'

interface Deps {
  db: Db
  clock: Clock
  store: EmailStore
  instances: InstanceStore
  invitations: InvitationStore
  /** Organization invitations, for the `organization_invitation` email. */
  orgInvitations?: OrgInvitationStore
  tickets: TicketService
  smtpUrl: string | null
  emailFrom: string
  publicUrl: string
  outbox: OutboxStore
  /** A sign-up attempt's address, expiry and current code, for its `verification_code` email; null once gone. */
  signUpCode: (attemptId: string) => Promise<{ instanceId: string; to: string; code: string; expiresAt: number; status: string } | null>
  /** An address a signed-in person is adding: its current code, for its `verification_code` email; null once none is to be sent. */
  addressCode?: (instanceId: string, emailAddressId: string) => Promise<{ to: string; code: string; expiresAt: number } | null>
  /** An invitation link's attempt: its address, current code and page, for its `verification_code` email; null once none is to be sent. */
  linkCode?: (attemptId: string) => Promise<{ instanceId: string; to: string; code: string; expiresAt: number; url: string } | null>
  /** An organization domain's current code, address and names, for its `affiliation_code` email; null once none is to be sent. */
  domainCode?: (domainId: string) => Promise<{ instanceId: string; to: string; code: string; expiresAt: number; domain: string; organizationName: string } | null>
  /** A dashboard operator's password reset email as it reads now; null once its link is used or expired. */
  operatorPasswordReset?: (resetId: string, now: number) => Promise<{ to: string; url: string; rendered: RenderedEmail } | null>
  /**
   * A dashboard operator's invitation email as it reads now (or why it is not sent), for the
   * `operator_invitation` items the dashboard queues on the default instance's outbox.
   */
  operatorInvitation?: (invitationId: string) => Promise<{ to: string; url: string; rendered: RenderedEmail } | { skipped: 'invitation_revoked' | 'invitation_accepted' | 'invitation_expired' | 'invitation_deleted' }>
  testing: boolean
  /** Where templates are checked and rendered; by default a pool of its own, closed with the service. */
  renderer?: TemplateRenderer
}

/** What an invitation's email item carries; the link is derived at send time, never stored. */
interface InvitationEmailPayload {
  invitation_id: string
  to: string
  template_slug: string
}

/** An item that needed no sending (its invitation is gone or no longer usable) is delivered with this. */
interface SkippedEmail {
  skipped: 'invitation_deleted' | 'invitation_revoked' | 'invitation_accepted' | 'invitation_declined' | 'invitation_expired' | 'instance_deleted' | 'sign_up_closed' | 'verification_closed' | 'code_expired'
}

const MINUTE = 60_000
// An SMTP server that is down usually comes back within minutes; after about nine hours of
// trying, the item is kept as failed for the operator to look at.
const RETRY_DELAYS_MS = [1 * MINUTE, 5 * MINUTE, 30 * MINUTE, 120 * MINUTE, 360 * MINUTE]
// Under FOYER_TESTING the same shape in seconds, so a test moves the clock by little.
const TESTING_RETRY_DELAYS_MS = RETRY_DELAYS_MS.map((ms) => ms / 60)

const noLog: MailLog = { info: () => {} }

export function createEmailService(deps: Deps) {
  const { db, clock, store } = deps
  let log: MailLog = noLog
  const fromEmailName = localPart(deps.emailFrom)
  const mailer: Mailer = deps.smtpUrl
    ? smtpMailer({ smtpUrl: deps.smtpUrl, from: deps.emailFrom, publicUrl: deps.publicUrl })
    : devMailbox({ db, store, publicUrl: deps.publicUrl, log: () => log })
  const renderer = deps.renderer ?? createTemplateRenderer()
  // Foyer's own templates render in the process: they are known to take a fraction of a
  // millisecond, and most instances send only them. A template a tenant wrote goes to the
  // workers, keyed by instance: they serve instances in turn, one job of each at a time.
  const isBuiltIn = (source: TemplateSource) => Object.values(DEFAULT_TEMPLATES).some((t) => t.subject === source.subject && t.html === source.html && t.text === source.text)
  const render = (instance: Instance, source: TemplateSource, variables: TemplateVariables) =>
    isBuiltIn(source) ? renderNow(source, variables) : renderer.render(instance.id, source, variables)

  /** The first given part that cannot be used, as the 422 to answer; null when all can. 429 while the instance has too many checks waiting. */
  async function refusalFor(instance: Instance, slug: EmailTemplateSlug, source: Partial<TemplateSource>) {
    let broken: Awaited<ReturnType<TemplateRenderer['check']>>
    try {
      broken = await renderer.check(instance.id, slug, source)
    } catch (err) {
      if (!(err instanceof RendererBusyError)) throw err
      throw new ApiError(429, 'too_many_requests', 'Too many requests',
        'Too many templates of this instance are being checked at once. Try again in a few seconds.', {}, { 'retry-after': '5' })
    }
    return broken && paramError(422, 'form_param_format_invalid', broken.part, 'is invalid', `The ${broken.part} template cannot be used: ${broken.reason}`)
  }

  async function sourceFor(instanceId: string, slug: EmailTemplateSlug): Promise<TemplateSource> {
    return merge(slug, await store.findTemplate(db, instanceId, slug))
  }

  /**
   * The invitation's email as it reads now: its current link, template and expiry, and for an
   * organization invitation the inviter's and organization's current names.
   */
  async function compose(instance: Instance, invitation: InvitationRow | OrgInvitationView, slug: EmailTemplateSlug) {
    const url = deps.tickets.url(invitation)
    const variables: Record<string, string> = {
      app_name: instance.name,
      email_address: invitation.email_address,
      url,
      expires_at: formatExpiry(invitation.expires_at),
      expires_at_iso: new Date(invitation.expires_at).toISOString(),
      ...('organization_id' in invitation ? organizationVariables(instance, invitation) : {}),
    }
    return { url, variables, rendered: await render(instance, await sourceFor(instance.id, slug), variables as unknown as TemplateVariables) }
  }

  /** The inviter's name (first and last, else their address, else the application's name) and the organization's. */
  function organizationVariables(instance: Instance, invitation: OrgInvitationView) {
    const fullName = [invitation.inviter_first_name, invitation.inviter_last_name].filter((n) => n && n.trim()).join(' ').trim()
    const inviter = invitation.inviter_found ? (fullName || invitation.inviter_identifier || '') : ''
    return { inviter_name: inviter || instance.name, organization_name: invitation.organization_name ?? '' }
  }

  /** The invitation an email item is about, app or organization one by its template; null once it is gone. */
  async function findInvitation(instanceId: string, invitationId: string, slug: EmailTemplateSlug): Promise<InvitationRow | OrgInvitationView | null> {
    if (!isOrganizationSlug(slug)) return deps.invitations.findById(db, instanceId, invitationId)
    if (!deps.orgInvitations) throw new Error('no store for organization invitations')
    return deps.orgInvitations.findById(db, instanceId, invitationId)
  }

  /**
   * Renders and sends one invitation email from the invitation's current row: the link comes
   * from its current nonce (a re-issued invitation sends its new link), and an invitation
   * deleted, revoked, accepted or expired since the email was queued is not sent at all.
   * Throws to have the item retried; a template that does not render with this email's data
   * fails it at once, as it would on every attempt.
   */
  async function deliver(item: OutboxRow): Promise<SentEmail | SkippedEmail> {
    try {
      return await deliverOnce(item)
    } catch (err) {
      if (err instanceof TemplateRenderError) throw new PermanentFailure(err.message)
      throw err
    }
  }

  async function deliverOnce(item: OutboxRow): Promise<SentEmail | SkippedEmail> {
    if (item.topic === 'verification_code') return deliverCode(item)
    if (item.topic === 'affiliation_code') return deliverDomainCode(item)
    if (item.topic === 'operator_password_reset') return deliverOperatorReset(item)
    if (item.topic === 'operator_invitation') return deliverOperatorInvitation(item)
    const payload = item.payload as InvitationEmailPayload
    const slug = payload.template_slug
    if (!isTemplateSlug(slug) || slug === 'verification_code' || slug === 'affiliation_code') throw new Error(`no sender for email template ${slug}`)
    const instanceRow = await deps.instances.findById(db, item.instance_id)
    if (!instanceRow) return { skipped: 'instance_deleted' }
    const instance = toInstance(instanceRow)
    const invitation = await findInvitation(item.instance_id, payload.invitation_id, slug)
    if (!invitation) return { skipped: 'invitation_deleted' }
    if (invitation.status !== 'pending') return { skipped: `invitation_${invitation.status}` }
    const now = clock.now(instance)
    if (invitation.expires_at <= now) return { skipped: 'invitation_expired' }

    const { url, variables, rendered } = await compose(instance, invitation, slug)
    // Queued before sending, under an id derived from the email's: a send that fails and is
    // retried, or a process that dies mid-send, never announces the same email twice.
    await deps.outbox.enqueue(db, [emailCreatedEvent(item, instance, invitation, slug, rendered.subject, variables, now)], clock.now())
    return mailer.send({
      ...rendered, outboxId: item.id, instanceId: instance.id, subjectId: invitation.id, templateSlug: slug,
      to: invitation.email_address, url, now,
    })
  }

  /** A sign-up's code, derived again at send time: it is never stored, in the outbox or anywhere. */
  async function deliverCode(item: OutboxRow): Promise<SentEmail | SkippedEmail> {
    const payload = item.payload as { sign_up_attempt_id: string } | { email_address_id: string } | { link_attempt_id: string }
    if ('email_address_id' in payload) return deliverAddressCode(item, payload.email_address_id)
    if ('link_attempt_id' in payload) return deliverLinkCode(item, payload.link_attempt_id)
    const attemptId = payload.sign_up_attempt_id
    const instanceRow = await deps.instances.findById(db, item.instance_id)
    if (!instanceRow) return { skipped: 'instance_deleted' }
    const instance = toInstance(instanceRow)
    const attempt = await deps.signUpCode(attemptId)
    const now = clock.now(instance)
    if (!attempt || attempt.instanceId !== instance.id || attempt.status !== 'pending') return { skipped: 'sign_up_closed' }
    if (attempt.expiresAt <= now) return { skipped: 'code_expired' }
    const url = `${deps.publicUrl}/sign-up/verify?sign_up=${encodeURIComponent(attemptId)}`
    const rendered = await render(instance, await sourceFor(instance.id, 'verification_code'), {
      app_name: instance.name, email_address: attempt.to, url, code: attempt.code,
      expires_at: formatExpiry(attempt.expiresAt), expires_at_iso: new Date(attempt.expiresAt).toISOString(),
    })
    return mailer.send({ ...rendered, outboxId: item.id, instanceId: instance.id, subjectId: attemptId, templateSlug: 'verification_code', to: attempt.to, url, now })
  }

  /** The code of an address a signed-in person is adding, derived again at send time like a sign-up's. */
  async function deliverAddressCode(item: OutboxRow, addressId: string): Promise<SentEmail | SkippedEmail> {
    const instanceRow = await deps.instances.findById(db, item.instance_id)
    if (!instanceRow) return { skipped: 'instance_deleted' }
    const instance = toInstance(instanceRow)
    const pending = await deps.addressCode?.(instance.id, addressId)
    const now = clock.now(instance)
    if (!pending) return { skipped: 'verification_closed' }
    if (pending.expiresAt <= now) return { skipped: 'code_expired' }
    const url = `${deps.publicUrl}/account${instance.isDefault ? '' : `?instance=${encodeURIComponent(instance.id)}`}`
    const rendered = await render(instance, await sourceFor(instance.id, 'verification_code'), {
      app_name: instance.name, email_address: pending.to, url, code: pending.code,
      expires_at: formatExpiry(pending.expiresAt), expires_at_iso: new Date(pending.expiresAt).toISOString(),
    })
    return mailer.send({ ...rendered, outboxId: item.id, instanceId: instance.id, subjectId: addressId, templateSlug: 'verification_code', to: pending.to, url, now })
  }

  /**
   * An operator's invitation to the dashboard: Foyer's own fixed email, never an instance's
   * template, and no `email.created` event (operators are no business of an instance's webhooks).
   */
  async function deliverOperatorInvitation(item: OutboxRow): Promise<SentEmail | SkippedEmail> {
    const { operator_invitation_id: invitationId } = item.payload as { operator_invitation_id: string }
    if (!deps.operatorInvitation) throw new Error('no sender for operator invitations')
    const email = await deps.operatorInvitation(invitationId)
    if ('skipped' in email) return email
    return mailer.send({ ...email.rendered, outboxId: item.id, instanceId: item.instance_id, subjectId: invitationId, templateSlug: 'operator_invitation', to: email.to, url: email.url, now: clock.now() })
  }

  /** The code of an address given on an invitation link's page, derived again at send time like a sign-up's. */
  async function deliverLinkCode(item: OutboxRow, attemptId: string): Promise<SentEmail | SkippedEmail> {
    const instanceRow = await deps.instances.findById(db, item.instance_id)
    if (!instanceRow) return { skipped: 'instance_deleted' }
    const instance = toInstance(instanceRow)
    const pending = await deps.linkCode?.(attemptId)
    const now = clock.now(instance)
    if (!pending || pending.instanceId !== instance.id) return { skipped: 'verification_closed' }
    if (pending.expiresAt <= now) return { skipped: 'code_expired' }
    const rendered = await render(instance, await sourceFor(instance.id, 'verification_code'), {
      app_name: instance.name, email_address: pending.to, url: pending.url, code: pending.code,
      expires_at: formatExpiry(pending.expiresAt), expires_at_iso: new Date(pending.expiresAt).toISOString(),
    })
    return mailer.send({ ...rendered, outboxId: item.id, instanceId: instance.id, subjectId: attemptId, templateSlug: 'verification_code', to: pending.to, url: pending.url, now })
  }

  /**
   * A dashboard operator's password reset, its link derived again at send time. It travels in
   * an instance's outbox only for the retries and the development mailbox: nothing of the
   * instance (its name, its templates) goes into it.
   */
  async function deliverOperatorReset(item: OutboxRow): Promise<SentEmail | SkippedEmail> {
    const { reset_id: resetId } = item.payload as { reset_id: string }
    const now = clock.now()
    const email = await deps.operatorPasswordReset?.(resetId, now)
    if (!email) return { skipped: 'verification_closed' }
    return mailer.send({ ...email.rendered, outboxId: item.id, instanceId: item.instance_id, subjectId: resetId, templateSlug: 'operator_password_reset', to: email.to, url: email.url, now })
  }

  /** An organization domain's code, derived again at send time like a sign-up's. */
  async function deliverDomainCode(item: OutboxRow): Promise<SentEmail | SkippedEmail> {
    const { domain_id: domainId } = item.payload as { domain_id: string }
    const instanceRow = await deps.instances.findById(db, item.instance_id)
    if (!instanceRow) return { skipped: 'instance_deleted' }
    const instance = toInstance(instanceRow)
    const pending = await deps.domainCode?.(domainId)
    const now = clock.now(instance)
    if (!pending || pending.instanceId !== instance.id) return { skipped: 'verification_closed' }
    if (pending.expiresAt <= now) return { skipped: 'code_expired' }
    const rendered = await render(instance, await sourceFor(instance.id, 'affiliation_code'), {
      app_name: instance.name, email_address: pending.to, url: deps.publicUrl, code: pending.code, domain: pending.domain,
      organization_name: pending.organizationName, expires_at: formatExpiry(pending.expiresAt), expires_at_iso: new Date(pending.expiresAt).toISOString(),
    })
    return mailer.send({ ...rendered, outboxId: item.id, instanceId: instance.id, subjectId: domainId, templateSlug: 'affiliation_code', to: pending.to, url: deps.publicUrl, now })
  }

  /**
   * The `email.created` event. Like the invitation events it stores no working link: its
   * bodies, which carry one, are rendered again when the event is sent (see `bodiesFor`).
   */
  function emailCreatedEvent(item: OutboxRow, instance: Instance, invitation: Pick<InvitationRow, 'id' | 'email_address'>, slug: EmailTemplateSlug,
    subject: string, variables: Record<string, string>, now: number): NewOutboxItem {
    const { url: _url, ...data } = variables
    return {
      id: derivedId(item.id, 'email.created'),
      instanceId: instance.id,
      kind: 'webhook',
      topic: 'email.created',
      subjectId: invitation.id,
      nextAttemptAt: clock.now(),
      payload: {
        data: {
          id: item.id, object: 'email', slug, from_email_name: fromEmailName, reply_to_email_name: null,
          to_email_address: invitation.email_address, email_address_id: null, user_id: null, subject,
          status: 'queued', data: { ...data, invitation_id: invitation.id }, delivered_by_clerk: true,
        },
        object: 'event', type: 'email.created', timestamp: now, instance_id: instance.id,
      },
    }
  }

  const delivery: OutboxKind = { deliver, retryDelaysMs: deps.testing ? TESTING_RETRY_DELAYS_MS : RETRY_DELAYS_MS }

  const requireSlug = (slug: string): EmailTemplateSlug => {
    if (!isTemplateSlug(slug)) throw notFound('email template')
    return slug
  }

  return {
    /** The outbox kind 'email'. */
    delivery,
    usesDevMailbox: deps.smtpUrl === null,

    /** The dev mailbox logs through the app's logger, which exists only once the app does. */
    useLogger(logger: MailLog) {
      log = logger
    },

    /** Closes pooled SMTP connections and stops the template workers; call once nothing is being delivered any more. */
    async close() {
      await Promise.all([mailer.close(), deps.renderer ? undefined : renderer.close()])
    },

    async listTemplates(instance: Instance): Promise<EmailTemplate[]> {
      const rows = new Map((await store.listTemplates(db, instance.id)).map((r) => [r.slug, r]))
      return EMAIL_TEMPLATE_SLUGS.map((slug) => toEmailTemplate(slug, rows.get(slug) ?? null))
    },

    async getTemplate(instance: Instance, slug: string): Promise<EmailTemplate> {
      const valid = requireSlug(slug)
      return toEmailTemplate(valid, await store.findTemplate(db, instance.id, valid))
    },

    /**
     * Replaces the instance's version of a template; a part left out or null uses the built-in
     * one. Every given part must parse, use no tag that loads files (include, render, layout),
     * use only the variables the slug provides in every branch, and render with sample data;
     * otherwise nothing is saved and the 422 names the part: a broken template is refused
     * now, not when an email is due.
     */
    async putTemplate(instance: Instance, slug: string, body: PutEmailTemplateBody): Promise<EmailTemplate> {
      const valid = requireSlug(slug)
      const parts = Object.fromEntries(TEMPLATE_PARTS.map((p) => [p, body[p] ?? null])) as Record<TemplatePart, string | null>
      const given = Object.fromEntries(Object.entries(parts).filter(([, v]) => v !== null)) as Partial<TemplateSource>
      const refusal = await refusalFor(instance, valid, given)
      if (refusal) throw refusal
      const saved = await db.transaction(async (tx) => {
        const row = await store.upsertTemplate(tx, instance.id, valid, parts, clock.now(instance))
        await recordAudit(tx, { instanceId: instance.id, action: 'email_template.updated', target: { type: 'email_template', id: valid }, changedKeys: Object.keys(given) }, clock.now())
        return row
      })
      return toEmailTemplate(valid, saved)
    },

    /**
     * A template as typed, not saved, rendered with sample data; or the 422 its save would
     * answer, unthrown. 404 for an unknown slug.
     */
    async previewTemplate(instance: Instance, slug: string, source: TemplateSource): Promise<{ rendered: RenderedEmail } | { refusal: ApiError }> {
      const valid = requireSlug(slug)
      const refusal = await refusalFor(instance, valid, source)
      if (refusal) return { refusal }
      try {
        return { rendered: await render(instance, source, sampleVariables(valid)) }
      } catch (err) {
        if (!(err instanceof TemplateRenderError)) throw err
        return { refusal: paramError(422, 'form_param_format_invalid', err.part, 'is invalid', `The ${err.part} template cannot be used: ${err.reason}`) }
      }
    },

    /** Goes back to the built-in template; answers the template now in use. */
    async resetTemplate(instance: Instance, slug: string): Promise<EmailTemplate> {
      const valid = requireSlug(slug)
      await db.transaction(async (tx) => {
        await store.deleteTemplate(tx, instance.id, valid)
        await recordAudit(tx, { instanceId: instance.id, action: 'email_template.reset', target: { type: 'email_template', id: valid } }, clock.now())
      })
      return toEmailTemplate(valid, null)
    },

    /** Every email queued for the invitation, oldest first, with where its delivery stands. */
    async history(instance: Instance, invitationId: string): Promise<ClerkEmailDelivery[]> {
      const invitation = await deps.invitations.findById(db, instance.id, invitationId)
      if (!invitation) throw notFound('invitation')
      return (await store.emailItemsFor(db, instance.id, invitationId)).map(toEmailDelivery)
    },

    /** As `history`, for an invitation of the organization: its invitation email and reminder. */
    async organizationHistory(instance: Instance, organizationId: string, invitationId: string): Promise<ClerkEmailDelivery[]> {
      if (!deps.orgInvitations) throw new Error('no store for organization invitations')
      const invitation = await deps.orgInvitations.findById(db, instance.id, invitationId)
      if (!invitation || invitation.organization_id !== organizationId) throw notFound('invitation')
      return (await store.emailItemsFor(db, instance.id, invitationId)).map(toEmailDelivery)
    },

    /**
     * An email event's HTML and text bodies and link, rendered again from the invitation's
     * current row; null once the invitation or its instance is gone.
     */
    async bodiesFor(instanceId: string, invitationId: string, slug: string): Promise<{ html: string; text: string; url: string } | null> {
      if (!isTemplateSlug(slug)) return null
      const instanceRow = await deps.instances.findById(db, instanceId)
      const invitation = instanceRow && await findInvitation(instanceId, invitationId, slug)
      if (!instanceRow || !invitation) return null
      const { url, rendered } = await compose(toInstance(instanceRow), invitation, slug)
      return { html: rendered.html, text: rendered.text, url }
    },

    devMessages: (limit: number) => store.listDevMessages(db, limit),
    devMessage: (id: string) => store.findDevMessage(db, id),
  }
}

export type EmailService = ReturnType<typeof createEmailService>

function merge(slug: EmailTemplateSlug, row: EmailTemplateRow | null): TemplateSource {
  const builtIn = DEFAULT_TEMPLATES[slug]
  return { subject: row?.subject ?? builtIn.subject, html: row?.html ?? builtIn.html, text: row?.text ?? builtIn.text }
}

function toEmailTemplate(slug: EmailTemplateSlug, row: EmailTemplateRow | null): EmailTemplate {
  return {
    object: 'email_template',
    slug,
    ...merge(slug, row),
    customized: row !== null,
    updated_at: row?.updated_at ?? null,
  }
}

function toEmailDelivery(item: OutboxRow): ClerkEmailDelivery {
  const payload = item.payload as Partial<InvitationEmailPayload>
  const result = (item.result ?? null) as (Partial<SentEmail> & Partial<SkippedEmail>) | null
  const status = item.status === 'failed' ? 'failed'
    : item.status !== 'delivered' ? 'queued'
      : result?.skipped ? 'skipped' : 'sent'
  return {
    object: 'email',
    id: item.id,
    invitation_id: item.subject_id ?? '',
    template_slug: item.topic,
    to_email_address: payload.to ?? '',
    status,
    attempts: item.attempts,
    last_error: item.last_error,
    smtp_message_id: result?.message_id ?? null,
    skipped_reason: result?.skipped ?? null,
    next_attempt_at: status === 'queued' ? Number(item.next_attempt_at) : null,
    created_at: Number(item.created_at),
    sent_at: item.delivered_at === null ? null : Number(item.delivered_at),
  }
}

/** "Foyer <no-reply@example.com>" → "no-reply", as Clerk's `from_email_name`. */
function localPart(from: string): string {
  const address = /<([^<>]+)>\s*$/.exec(from)?.[1] ?? from
  return address.split('@')[0]!.trim()
}
