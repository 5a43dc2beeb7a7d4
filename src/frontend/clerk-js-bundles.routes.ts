import type { FastifyPluginAsync, FastifyReply } from 'fastify'
import { ApiError } from '../platform/errors.js'
import { isInstanceId } from '../platform/ids.js'
import { openBundleFile, type ClerkJsBundles } from './clerk-js-bundles.js'

const notFound = (what: string) => new ApiError(404, 'resource_not_found', 'not found', what)

interface Params { instance_id?: string; version: string; file: string }

/**
 * The clerk-js browser bundles, where Clerk's loader (`loadClerkJsScript` in @clerk/shared,
 * behind the React and Next.js SDKs) looks for them when the Frontend API is Foyer: an
 * absolute proxy URL `https://<host>/fapi/<instance id>` makes them load
 * `https://<host>/fapi/<instance id>/npm/@clerk/clerk-js@6/dist/clerk.browser.js`, and a
 * publishable key's host alone `https://<host>/npm/…`. The bundle then loads its chunks from
 * its own folder at its exact version (`@6.40.0`), which is why the whole dist folder is served.
 */
export const clerkJsBundleRoutes = (deps: { bundles: ClerkJsBundles }): FastifyPluginAsync => async (app) => {
  const hide = true
  // The loaders add crossorigin="anonymous" to the script tag, and so does webpack to the
  // chunks: a page on any origin must be able to read them. They hold no one's data.
  app.addHook('onRequest', async (_request, reply) => {
    reply.headers({
      'access-control-allow-origin': '*',
      'cross-origin-resource-policy': 'cross-origin',
      // Lets the loader tell a failed download from a cached one (it reads the resource timing).
      'timing-allow-origin': '*',
    })
  })

  async function serve(params: Params, ifNoneMatch: string | undefined, reply: FastifyReply) {
    // The bundles are the same for every instance; the id is only checked for its form.
    if (params.instance_id !== undefined && !isInstanceId(params.instance_id)) throw notFound('No such instance.')
    const file = deps.bundles.find(params.version, params.file)
    if (!file) {
      throw notFound(`Foyer serves @clerk/clerk-js ${deps.bundles.versions.join(' and ')} (also by major version and as latest); ${params.version}/dist/${params.file.slice(0, 200)} is none of their files.`)
    }
    // An exact version's files never change; a major or `latest` moves when Foyer upgrades.
    reply.header('cache-control', file.isExact ? 'public, max-age=31536000, immutable' : 'public, max-age=300')
    reply.header('etag', file.etag)
    if (ifNoneMatch !== undefined && ifNoneMatch.split(',').some((tag) => tag.trim().replace(/^W\//, '') === file.etag)) {
      return reply.code(304).send()
    }
    const opened = await openBundleFile(file)
    if (!opened) throw notFound(`${params.file.slice(0, 200)} is no longer installed.`)
    reply.header('content-length', opened.size)
    reply.type(file.contentType)
    return reply.send(opened.handle.createReadStream())
  }

  const schema = { hide }
  app.get<{ Params: Params }>('/npm/@clerk/clerk-js@:version/dist/:file', { schema }, (request, reply) =>
    serve(request.params, request.headers['if-none-match'], reply))
  app.get<{ Params: Params }>('/fapi/:instance_id/npm/@clerk/clerk-js@:version/dist/:file', { schema }, (request, reply) =>
    serve(request.params, request.headers['if-none-match'], reply))
}
