import { Type, type Static } from 'typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ClerkErrorsRef } from '../platform/openapi.js'
import type { AcceptService } from '../accept/accept.service.js'
import type { SignInTokenService } from './sign-in-tokens.service.js'
import type { SignInTokenRow } from './sign-in-tokens.store.js'

const CreateSignInTokenBody = Type.Object({
  user_id: Type.String({ description: 'The user the token signs in.' }),
  expires_in_seconds: Type.Optional(Type.Union([Type.Integer(), Type.Null()], { description: 'Lifetime in seconds, at least 1; default 2592000 (30 days).' })),
}, { additionalProperties: false })

const SignInToken = Type.Object({
  object: Type.Literal('sign_in_token'),
  id: Type.String(),
  status: Type.Union([Type.Literal('pending'), Type.Literal('accepted'), Type.Literal('revoked')]),
  user_id: Type.String(),
  token: Type.Optional(Type.String()),
  url: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  created_at: Type.Integer(),
  updated_at: Type.Integer(),
})
type SignInToken = Static<typeof SignInToken>

const tags = ['Sign-in Tokens']
const errors = { 400: ClerkErrorsRef, 401: ClerkErrorsRef, 404: ClerkErrorsRef, 422: ClerkErrorsRef, 429: ClerkErrorsRef }

/** The token and its link exist only in the answer to create: Foyer keeps their hash alone. */
const toSignInToken = (row: SignInTokenRow, issued?: { token: string; url: string }): SignInToken => ({
  object: 'sign_in_token', id: row.id, status: row.status, user_id: row.user_id,
  ...(issued ? { token: issued.token, url: issued.url } : {}),
  created_at: row.created_at, updated_at: row.updated_at,
})

export const signInTokenRoutes = (deps: { signInTokens: SignInTokenService; accept: AcceptService }): FastifyPluginAsyncTypebox => async (app) => {
  // Clerk answers 200 on create, and the SDK expects it.
  app.post('/v1/sign_in_tokens', {
    schema: {
      operationId: 'CreateSignInToken', tags, body: CreateSignInTokenBody,
      description: '`url` is Foyer\'s hosted sign-in page with the token; opening it asks the person to continue, and only that confirmation uses the token.',
      response: { 200: SignInToken, ...errors },
    },
  }, async (req) => {
    const { row, token } = await deps.signInTokens.create(req.instance, req.body)
    return toSignInToken(row, { token, url: await deps.accept.pageUrl(req.instance, '/sign-in', { __clerk_ticket: token }) })
  })

  app.post('/v1/sign_in_tokens/:sign_in_token_id/revoke', {
    schema: { operationId: 'RevokeSignInToken', tags, params: Type.Object({ sign_in_token_id: Type.String() }), response: { 200: SignInToken, ...errors } },
  }, async (req) => toSignInToken(await deps.signInTokens.revoke(req.instance, req.params.sign_in_token_id)))
}
