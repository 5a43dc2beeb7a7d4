import type { FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { AcceptService } from '../accept/accept.service.js'
import type { RestrictionService } from '../restrictions/restrictions.service.js'
import { notFound } from '../platform/errors.js'
import { isInstanceId } from '../platform/ids.js'
import { useFrontendConventions } from './frontend.conventions.js'
import { InstanceQuery } from './frontend.schemas.js'
import { toFapiEnvironment } from './environment.schemas.js'

interface Deps {
  accept: AcceptService
  restrictions: RestrictionService
  publicUrl: string
  allowedRedirectOrigins: readonly string[]
}

/**
 * Clerk's `GET /v1/environment`, and `PATCH` (an empty body: clerk-js sends it as
 * `POST ?_method=PATCH` when it loads with a development key), which changes nothing here and
 * answers the same. Registered under the `/v1/environment` prefix, with the Frontend API's
 * CORS and Origin rules.
 */
export const environmentRoutes = (deps: Deps): FastifyPluginAsyncTypebox => async (app) => {
  const { accept } = deps
  await useFrontendConventions(app, deps)

  async function environment(request: FastifyRequest) {
    const named = (request.query as InstanceQuery).instance
    const instance = named && !isInstanceId(named) ? null : await accept.resolveInstance(named)
    if (!instance) throw notFound('instance')
    const [signIn, signUp, waitlist, welcome] = await Promise.all(
      ['/sign-in', '/sign-up', '/waitlist', '/welcome'].map((path) => accept.pageUrl(instance, path)))
    const [allowlist, blocklist] = await Promise.all([
      // The allowlist lets people in only where sign-up is otherwise by invitation.
      instance.signUpMode === 'restricted' && deps.restrictions.hasEntries(instance.id, 'allowlist'),
      deps.restrictions.hasEntries(instance.id, 'blocklist'),
    ])
    return toFapiEnvironment(instance, { signIn: signIn!, signUp: signUp!, waitlist: waitlist!, welcome: welcome! }, { allowlist, blocklist })
  }

  app.get('/', { schema: { hide: true, querystring: InstanceQuery } }, environment)
  app.patch('/', { schema: { hide: true, querystring: InstanceQuery } }, environment)
}
