import { Type } from 'typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ClerkErrorsRef } from '../platform/openapi.js'
import { DeletedObject } from '../invitations/invitations.schemas.js'
import type { EmailAddressService } from './email-addresses.service.js'
import { ClerkEmailAddress, toClerkEmailAddress } from './users.schemas.js'

interface Deps {
  emailAddresses: EmailAddressService
}

const tags = ['Email Addresses']
const errors = { 400: ClerkErrorsRef, 401: ClerkErrorsRef, 404: ClerkErrorsRef, 409: ClerkErrorsRef, 422: ClerkErrorsRef }
const nullableBoolean = (description: string) => Type.Optional(Type.Union([Type.Boolean(), Type.Null()], { description }))

const CreateEmailAddressBody = Type.Object({
  user_id: Type.String(),
  email_address: Type.String({ maxLength: 320 }),
  verified: nullableBoolean('`true` marks it verified by the operator (strategy `admin`); otherwise it is unverified.'),
  primary: nullableBoolean('Makes it the user\'s primary address; the user\'s first address is primary anyway.'),
  notify_primary_email_address_changed: nullableBoolean('Accepted; Foyer sends no such notice.'),
}, { additionalProperties: false })

const UpdateEmailAddressBody = Type.Object({
  verified: nullableBoolean('`true` verifies it (strategy `admin` unless it was proved otherwise); `false` unverifies it.'),
  primary: nullableBoolean('`true` makes it the user\'s primary address; `false` changes nothing.'),
  notify_primary_email_address_changed: nullableBoolean('Accepted; Foyer sends no such notice.'),
}, { additionalProperties: false })

const IdParams = Type.Object({ email_address_id: Type.String() })

export const emailAddressRoutes = (deps: Deps): FastifyPluginAsyncTypebox => async (app) => {
  // Clerk answers 200 (not 201) on create.
  app.post('/v1/email_addresses', {
    schema: {
      operationId: 'CreateEmailAddress', tags, body: CreateEmailAddressBody,
      description: 'An address belongs to one user per instance: one already held answers 422 `form_identifier_exists`.',
      response: { 200: ClerkEmailAddress, ...errors },
    },
  }, async (req) => toClerkEmailAddress(await deps.emailAddresses.create(req.instance, req.body)))

  app.get('/v1/email_addresses/:email_address_id', {
    schema: { operationId: 'GetEmailAddress', tags, params: IdParams, response: { 200: ClerkEmailAddress, ...errors } },
  }, async (req) => toClerkEmailAddress(await deps.emailAddresses.get(req.instance, req.params.email_address_id)))

  app.patch('/v1/email_addresses/:email_address_id', {
    schema: { operationId: 'UpdateEmailAddress', tags, params: IdParams, body: UpdateEmailAddressBody, response: { 200: ClerkEmailAddress, ...errors } },
  }, async (req) => toClerkEmailAddress(await deps.emailAddresses.update(req.instance, req.params.email_address_id, req.body ?? {})))

  app.delete('/v1/email_addresses/:email_address_id', {
    schema: {
      operationId: 'DeleteEmailAddress', tags, params: IdParams,
      description: 'The primary address of a user with other addresses answers 409 `primary_email_address_deletion_forbidden`: make another one primary first.',
      response: { 200: DeletedObject, ...errors },
    },
  }, async (req) => deps.emailAddresses.remove(req.instance, req.params.email_address_id))
}
