import { Type } from 'typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ClerkErrorsRef, paginated } from '../platform/openapi.js'
import { DeletedObject } from '../invitations/invitations.schemas.js'
import type { UserService } from './users.service.js'
import { ClerkUser, CountUsersQuery, CreateUserBody, ListUsersQuery, UserIdParams, UsersCount, toClerkUser } from './users.schemas.js'

interface Deps {
  users: UserService
}

const tags = ['Users']
const errors = { 400: ClerkErrorsRef, 401: ClerkErrorsRef, 404: ClerkErrorsRef, 422: ClerkErrorsRef }

export const userRoutes = (deps: Deps): FastifyPluginAsyncTypebox => async (app) => {
  app.get('/v1/users', {
    schema: {
      operationId: 'GetUserList', tags, querystring: ListUsersQuery,
      description: 'Newest first unless `order_by` says otherwise. A plain array; `paginated=true` answers `{data, total_count}`.',
      response: { 200: paginated(ClerkUser), ...errors },
    },
  }, async (req, reply) => {
    const { data, totalCount } = await deps.users.list(req.instance, req.query)
    // Both shapes are exactly built by toClerkUser: no need to try each branch of the union.
    reply.type('application/json').serializer(JSON.stringify)
    const users = data.map(toClerkUser)
    return totalCount === null ? users : { data: users, total_count: totalCount }
  })

  app.get('/v1/users/count', {
    schema: { operationId: 'GetUsersCount', tags, querystring: CountUsersQuery, response: { 200: UsersCount, ...errors } },
  }, async (req) => ({ object: 'total_count' as const, total_count: await deps.users.count(req.instance, req.query) }))

  app.get('/v1/users/:user_id', {
    schema: { operationId: 'GetUser', tags, params: UserIdParams, response: { 200: ClerkUser, ...errors } },
  }, async (req) => toClerkUser(await deps.users.get(req.instance, req.params.user_id)))

  // Clerk answers 200 (not 201) on create, and the SDK expects it.
  app.post('/v1/users', {
    schema: {
      operationId: 'CreateUser', tags, body: CreateUserBody,
      description: 'The new user has one email address, created verified (strategy `admin`), its primary one; `/v1/email_addresses` adds more. An address a user already holds: 422 `form_identifier_exists`.',
      response: { 200: ClerkUser, ...errors },
    },
  }, async (req) => toClerkUser(await deps.users.create(req.instance, req.body)))

  app.delete('/v1/users/:user_id', {
    schema: {
      operationId: 'DeleteUser', tags, params: UserIdParams,
      description: 'Deletes the user with its email addresses and sessions, and every queued or logged event about it (they hold its address); invitations stay.',
      response: { 200: DeletedObject, ...errors },
    },
  }, async (req) => deps.users.remove(req.instance, req.params.user_id))
}
