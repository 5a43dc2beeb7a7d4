import { Type } from 'typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ClerkErrorsRef } from '../platform/openapi.js'
import type { InstanceService } from './instance.service.js'
import type { SigningKeyService } from '../sessions/signing-keys.service.js'
import { AdvanceClockBody, InstanceSettings, UpdateInstanceBody, toInstanceSettings, type Instance } from './instance.schemas.js'

const errors = { 401: ClerkErrorsRef, 404: ClerkErrorsRef, 422: ClerkErrorsRef }
const Now = Type.Object({ now: Type.Integer() })

export const instanceRoutes = (deps: { instances: InstanceService; signingKeys: SigningKeyService }): FastifyPluginAsyncTypebox => async (app) => {
  const settingsOf = async (instance: Instance) =>
    toInstanceSettings(instance, deps.instances.serverOrigins, (await deps.signingKeys.current(instance)).publicKeyPem)

  app.get('/v1/instance', {
    schema: { operationId: 'GetInstanceSettings', tags: ['Instance'], description: 'Foyer\'s own shape.', response: { 200: InstanceSettings, ...errors } },
  }, async (req) => settingsOf(req.instance))

  app.patch('/v1/instance', {
    schema: {
      operationId: 'UpdateInstanceSettings', tags: ['Instance'], body: UpdateInstanceBody,
      description: 'Sign-up mode, application name, home and after-sign-up URLs, rate limits (requests per hour; 0 lifts a limit), and the origins this instance allows besides the server\'s (the whole list is replaced; home and after-sign-up URLs must stay on an allowed origin).',
      response: { 200: InstanceSettings, ...errors },
    },
  }, async (req) => settingsOf(await deps.instances.update(req.instance, req.body)))

  app.get('/v1/testing/clock', {
    schema: { operationId: 'GetTestClock', tags: ['Testing'], description: 'Only with FOYER_TESTING=1 and an sk_test_ key.', response: { 200: Now, ...errors } },
  }, async (req) => ({ now: deps.instances.now(req.instance) }))

  app.post('/v1/testing/clock', {
    schema: { operationId: 'AdvanceTestClock', tags: ['Testing'], body: AdvanceClockBody, description: 'Moves this instance\'s clock forward. Only with FOYER_TESTING=1 and an sk_test_ key.', response: { 200: Now, ...errors } },
  }, async (req) => ({ now: await deps.instances.advanceClock(req.instance, req.body.advance_ms) }))
}
