/**
 * A publishable key names only Foyer's host, so an application names its instance by path: the
 * instance's Frontend API is `<public URL>/fapi/<instance id>`, which is what the application
 * sets as Clerk's `proxyUrl` (CLERK_PROXY_URL). Such a request is served as the same path
 * without the prefix and with `?instance=<id>`, the query the Frontend API already takes; the
 * prefix wins over any `instance` in the query. The default instance answers at the root too.
 */
const PREFIXED = /^\/fapi\/(ins_[A-Za-z0-9]{1,64})(\/(?:v1\/client|v1\/environment|v1\/me|v1\/organizations|\.well-known\/jwks\.json)(?:[/?].*)?)$/

export const INSTANCE_PATH_PREFIX = '/fapi/'

export function unprefixedFrontendPath(url: string): string {
  const match = PREFIXED.exec(url)
  if (!match) return url
  const [, instanceId, rest] = match as unknown as [string, string, string]
  const queryAt = rest.indexOf('?')
  const path = queryAt === -1 ? rest : rest.slice(0, queryAt)
  const query = new URLSearchParams(queryAt === -1 ? '' : rest.slice(queryAt + 1))
  query.delete('instance')
  query.set('instance', instanceId)
  return `${path}?${query}`
}
