import { Type, type Static } from 'typebox'

const nullableString = (options: { maxLength: number; description: string }) => Type.Optional(Type.Union([Type.String(options), Type.Null()]))

export const EmailTemplateParams = Type.Object({ slug: Type.String({ maxLength: 100 }) })

export const PutEmailTemplateBody = Type.Object({
  subject: nullableString({ maxLength: 1000, description: 'Liquid template; rendered, then CR/LF removed. Null or absent: the built-in subject.' }),
  html: nullableString({ maxLength: 200_000, description: 'Liquid template; every output is HTML-escaped. Null or absent: the built-in HTML.' }),
  text: nullableString({ maxLength: 200_000, description: 'Liquid template for the plain-text part. Null or absent: the built-in text.' }),
}, { additionalProperties: false })
export type PutEmailTemplateBody = Static<typeof PutEmailTemplateBody>

export const EmailTemplate = Type.Object({
  object: Type.Literal('email_template'),
  slug: Type.String(),
  subject: Type.String(),
  html: Type.String(),
  text: Type.String(),
  customized: Type.Boolean({ description: 'Whether the instance replaced any part of the built-in template.' }),
  updated_at: Type.Union([Type.Integer(), Type.Null()]),
}, { additionalProperties: false })
export type EmailTemplate = Static<typeof EmailTemplate>

export const EmailDelivery = Type.Object({
  object: Type.Literal('email'),
  id: Type.String({ description: 'The outbox item id; also the local part of the Message-ID, stable across retries.' }),
  invitation_id: Type.String(),
  template_slug: Type.String(),
  to_email_address: Type.String(),
  status: Type.Union([Type.Literal('queued'), Type.Literal('sent'), Type.Literal('failed'), Type.Literal('skipped')], {
    description: '`skipped`: the invitation was deleted, revoked, accepted or expired before the email went out, so it was not sent.',
  }),
  attempts: Type.Integer(),
  last_error: Type.Union([Type.String(), Type.Null()]),
  smtp_message_id: Type.Union([Type.String(), Type.Null()]),
  skipped_reason: Type.Union([Type.String(), Type.Null()]),
  next_attempt_at: Type.Union([Type.Integer(), Type.Null()]),
  created_at: Type.Integer(),
  sent_at: Type.Union([Type.Integer(), Type.Null()]),
}, { additionalProperties: false })
export type ClerkEmailDelivery = Static<typeof EmailDelivery>
