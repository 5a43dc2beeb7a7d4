import { Type } from 'typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { ClerkErrorsRef } from '../platform/openapi.js'
import { enforceLimit } from '../platform/rate-limit.js'
import { InvitationIdParams } from '../invitations/invitations.schemas.js'
import { OrgInvitationIdParams } from '../organizations/org-invitations.schemas.js'
import type { EmailService } from './email.service.js'
import { EmailDelivery, EmailTemplate, EmailTemplateParams, PutEmailTemplateBody } from './email.schemas.js'

const errors = { 400: ClerkErrorsRef, 401: ClerkErrorsRef, 404: ClerkErrorsRef, 422: ClerkErrorsRef }
const writeErrors = { ...errors, 429: ClerkErrorsRef }
const extension = 'Foyer extension (Clerk has no such endpoint).'

// A save renders the template, on workers every instance shares: one instance may not keep
// them busy. PUT and DELETE count together.
export const TEMPLATE_WRITES_PER_MINUTE = 60

/** Email templates and delivery history: Foyer extensions under the secret key. */
export const emailRoutes = ({ email }: { email: EmailService }): FastifyPluginAsyncTypebox => async (app) => {
  const limit = app.createRateLimit({
    timeWindow: 60_000,
    max: TEMPLATE_WRITES_PER_MINUTE,
    keyGenerator: (req) => `email-template-writes:${req.instance.id}`,
  })
  const limited = (req: FastifyRequest) => enforceLimit(limit, req,
    (max, seconds) => `Email templates allow ${max} changes per minute for this instance. Retry after ${seconds} seconds.`)

  app.get('/v1/email_templates', {
    schema: { operationId: 'ListEmailTemplates', tags: ['Email templates'], description: extension, response: { 200: Type.Array(EmailTemplate), ...errors } },
  }, async (req) => email.listTemplates(req.instance))

  app.get('/v1/email_templates/:slug', {
    schema: { operationId: 'GetEmailTemplate', tags: ['Email templates'], description: extension, params: EmailTemplateParams, response: { 200: EmailTemplate, ...errors } },
  }, async (req) => email.getTemplate(req.instance, req.params.slug))

  app.put('/v1/email_templates/:slug', {
    schema: {
      operationId: 'PutEmailTemplate', tags: ['Email templates'], params: EmailTemplateParams, body: PutEmailTemplateBody,
      description: `${extension} Liquid templates with app_name, email_address, url, expires_at, expires_at_iso (and inviter_name, organization_name for organization_invitation; code for verification_code; code, domain, organization_name for affiliation_code). A part that uses include, render or layout, uses a variable its template does not provide (in any branch), or fails to parse or render with sample data is refused with 422 naming it. ${TEMPLATE_WRITES_PER_MINUTE} changes (PUT and DELETE together) per minute per instance, then 429.`,
      response: { 200: EmailTemplate, ...writeErrors },
    },
    preHandler: limited,
  }, async (req) => email.putTemplate(req.instance, req.params.slug, req.body))

  app.delete('/v1/email_templates/:slug', {
    schema: { operationId: 'ResetEmailTemplate', tags: ['Email templates'], description: `${extension} Goes back to the built-in template.`, params: EmailTemplateParams, response: { 200: EmailTemplate, ...writeErrors } },
    preHandler: limited,
  }, async (req) => email.resetTemplate(req.instance, req.params.slug))

  app.get('/v1/invitations/:invitation_id/emails', {
    schema: {
      operationId: 'ListInvitationEmails', tags: ['Invitations'], params: InvitationIdParams,
      description: `${extension} Every email queued for the invitation, oldest first, with its delivery status.`,
      response: { 200: Type.Object({ data: Type.Array(EmailDelivery), total_count: Type.Integer() }), ...errors },
    },
  }, async (req) => {
    const data = await email.history(req.instance, req.params.invitation_id)
    return { data, total_count: data.length }
  })

  app.get('/v1/organizations/:organization_id/invitations/:invitation_id/emails', {
    schema: {
      operationId: 'ListOrganizationInvitationEmails', tags: ['Organization invitations'], params: OrgInvitationIdParams,
      description: `${extension} Every email queued for the organization invitation (the invitation and its reminder), oldest first, with its delivery status.`,
      response: { 200: Type.Object({ data: Type.Array(EmailDelivery), total_count: Type.Integer() }), ...errors },
    },
  }, async (req) => {
    const data = await email.organizationHistory(req.instance, req.params.organization_id, req.params.invitation_id)
    return { data, total_count: data.length }
  })
}
