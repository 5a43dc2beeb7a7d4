import { Type } from 'typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ClerkErrorsRef, paginated } from '../platform/openapi.js'
import { DeletedObject } from '../invitations/invitations.schemas.js'
import type { UserService } from './users.service.js'
import { ClerkUser, CountUsersQuery, CreateUserBody, ListUsersQuery, PasswordVerified, UpdateUserBody, UpdateUserMetadataBody, UserIdParams, UsersCount, VerifyPasswordBody, toClerkUser } from './users.schemas.js'

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
    const standing = deps.users.standing(req.instance)
    const users = data.map((u) => toClerkUser(u, standing))
    return totalCount === null ? users : { data: users, total_count: totalCount }
  })

  app.get('/v1/users/count', {
    schema: { operationId: 'GetUsersCount', tags, querystring: CountUsersQuery, response: { 200: UsersCount, ...errors } },
  }, async (req) => ({ object: 'total_count' as const, total_count: await deps.users.count(req.instance, req.query) }))

  app.get('/v1/users/:user_id', {
    schema: { operationId: 'GetUser', tags, params: UserIdParams, response: { 200: ClerkUser, ...errors } },
  }, async (req) => toClerkUser(await deps.users.get(req.instance, req.params.user_id), deps.users.standing(req.instance)))

  // Clerk answers 200 (not 201) on create, and the SDK expects it.
  app.post('/v1/users', {
    schema: {
      operationId: 'CreateUser', tags, body: CreateUserBody,
      description: 'The new user has one email address, created verified (strategy `admin`), its primary one; `/v1/email_addresses` adds more. An address a user already holds: 422 `form_identifier_exists`.',
      response: { 200: ClerkUser, ...errors },
    },
  }, async (req) => toClerkUser(await deps.users.create(req.instance, req.body), deps.users.standing(req.instance)))

  app.patch('/v1/users/:user_id', {
    schema: {
      operationId: 'UpdateUser', tags, params: UserIdParams, body: UpdateUserBody,
      description: 'Changes only what the body names; metadata given here replaces the stored object. Queues `user.updated`. '
        + 'Parameters of Clerk\'s that Foyer does not support: 422 `form_param_unknown` naming them. A taken `external_id`: 422 `form_identifier_exists`.',
      response: { 200: ClerkUser, ...errors },
    },
  }, async (req) => toClerkUser(await deps.users.update(req.instance, req.params.user_id, req.body), deps.users.standing(req.instance)))

  app.patch('/v1/users/:user_id/metadata', {
    schema: {
      operationId: 'UpdateUserMetadata', tags, params: UserIdParams, body: UpdateUserMetadataBody,
      description: 'Deep-merges each object into the stored one: nested objects merge, a null value removes its key, arrays and scalars replace. '
        + 'The merged object must be at most 8 KB serialized (422 naming it). Queues `user.updated`.',
      response: { 200: ClerkUser, ...errors },
    },
  }, async (req) => toClerkUser(await deps.users.updateMetadata(req.instance, req.params.user_id, req.body), deps.users.standing(req.instance)))

  app.delete('/v1/users/:user_id', {
    schema: {
      operationId: 'DeleteUser', tags, params: UserIdParams,
      description: 'Deletes the user with its email addresses and sessions, and every queued or logged event about it (they hold its address); invitations stay.',
      response: { 200: DeletedObject, ...errors },
    },
  }, async (req) => deps.users.remove(req.instance, req.params.user_id))

  const standingRoutes = [
    ['ban', 'BanUser', 'Bans the user: their sessions are revoked at once and they cannot sign in, by any route, until unbanned.'],
    ['unban', 'UnbanUser', 'Lifts the ban.'],
    ['lock', 'LockUser', 'Locks the user for the instance\'s `user_lockout.duration_in_minutes`: their sessions are revoked and they cannot sign in until the lock ends or is lifted.'],
    ['unlock', 'UnlockUser', 'Lifts the lock, automatic or not, and starts the count of wrong passwords again.'],
  ] as const
  for (const [action, operationId, description] of standingRoutes) {
    app.post(`/v1/users/:user_id/${action}`, {
      schema: { operationId, tags, params: UserIdParams, description, response: { 200: ClerkUser, ...errors } },
    }, async (req) => toClerkUser(await deps.users[action](req.instance, req.params.user_id), deps.users.standing(req.instance)))
  }

  app.post('/v1/users/:user_id/verify_password', {
    schema: {
      operationId: 'VerifyPassword', tags, params: UserIdParams, body: VerifyPasswordBody,
      description: 'A wrong password: 422 `incorrect_password`; a user without one: 400 `password_not_set`. Failures do not count toward lockout.',
      response: { 200: PasswordVerified, ...errors },
    },
  }, async (req) => deps.users.verifyPassword(req.instance, req.params.user_id, req.body.password))
}
