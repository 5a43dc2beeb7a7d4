import autocannon from 'autocannon'

export interface LoadSpec {
  url: string
  method: 'GET' | 'POST'
  path: string
  headers?: Record<string, string>
  /** A new body for every request (unique email addresses). */
  body?: () => string
  /** A path for every request, when requests spread over several (the probe uses `path`). */
  nextPath?: () => string
  seconds: number
  connections: number
}

export interface LoadResult {
  requests: number
  rps: number
  p50: number
  p99: number
  /** Connection errors (timeouts included) and non-2xx answers: any of them voids the figures. */
  failures: number
  statusCodes: Record<string, number>
}

/** One closed-loop load from this process (no autocannon workers). */
export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const { body, nextPath } = spec
  const result = await autocannon({
    url: spec.url,
    connections: spec.connections,
    duration: spec.seconds,
    requests: [{
      method: spec.method,
      path: spec.path,
      headers: { ...spec.headers, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body || nextPath ? {
        setupRequest: (request) => ({ ...request, ...(body ? { body: body() } : {}), ...(nextPath ? { path: nextPath() } : {}) }),
      } : {}),
    }],
  })
  const statusCodes = Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([code, s]) => [code, s.count ?? 0]))
  return {
    requests: result.requests.total,
    rps: result.requests.mean,
    p50: result.latency.p50,
    p99: result.latency.p99,
    failures: result.errors + result.non2xx,
    statusCodes,
  }
}
