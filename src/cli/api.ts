import { createClerkClient, type ClerkClient } from '@clerk/backend'

export interface Connection { apiUrl: string; secretKey: string }

export class CliError extends Error {}

/** Flags win over FOYER_API_URL and FOYER_SECRET_KEY; both must be known before anything is sent. */
export function connection(options: { apiUrl?: string; secretKey?: string }, env: Record<string, string | undefined>): Connection {
  const apiUrl = options.apiUrl ?? env.FOYER_API_URL
  const secretKey = options.secretKey ?? env.FOYER_SECRET_KEY
  if (!apiUrl) throw new CliError('No API URL: pass --api-url or set FOYER_API_URL (the Foyer\'s address, e.g. https://foyer.example.com).')
  if (!secretKey) throw new CliError('No secret key: pass --secret-key or set FOYER_SECRET_KEY.')
  try {
    new URL(apiUrl)
  } catch {
    throw new CliError(`The API URL ${apiUrl} is not an absolute URL.`)
  }
  return { apiUrl: apiUrl.replace(/\/+$/, ''), secretKey }
}

export const clerkClient = (c: Connection): ClerkClient => createClerkClient({ secretKey: c.secretKey, apiUrl: c.apiUrl, telemetry: { disabled: true } })

interface ClerkErrorShape {
  status?: number
  retryAfter?: number
  errors?: Array<{ code?: string; message?: string; longMessage?: string; meta?: { paramName?: string | undefined } }>
}

const asClerkError = (err: unknown): ClerkErrorShape | null =>
  err && typeof err === 'object' && Array.isArray((err as ClerkErrorShape).errors) ? err as ClerkErrorShape : null

/** The first error's code and parameter, when the answer was one of Clerk's error bodies. */
export function errorDetail(err: unknown): { status?: number; code?: string; param?: string; retryAfter?: number } {
  const clerk = asClerkError(err)
  const first = clerk?.errors?.[0]
  return { status: clerk?.status, code: first?.code, param: first?.meta?.paramName, retryAfter: clerk?.retryAfter }
}

/** Clerk's message and the parameter it names; never a stack trace. */
export function errorMessage(err: unknown): string {
  const clerk = asClerkError(err)
  const first = clerk?.errors?.[0]
  if (first) {
    const text = first.longMessage || first.message || first.code || 'request refused'
    // The SDK reports a network failure this way, with no status and without its cause.
    if (first.code === 'unexpected_error' && !clerk?.status) return `the Foyer did not answer (${text}): check --api-url or FOYER_API_URL`
    return first.meta?.paramName ? `${text} (${first.meta.paramName})` : text
  }
  if (err instanceof Error) {
    const cause = (err as Error & { cause?: { code?: string; message?: string } }).cause
    return cause?.message ? `${err.message}: ${cause.message}` : err.message
  }
  return String(err)
}

/** Waits `seconds`; an abort ends the wait early, and its timer with it, so the process can exit. */
export type Sleep = (seconds: number, signal?: AbortSignal) => Promise<void>
export const realSleep: Sleep = (seconds, signal) => new Promise((resolve) => {
  if (signal?.aborted) return resolve()
  const timer = setTimeout(done, seconds * 1000)
  function done() {
    clearTimeout(timer)
    signal?.removeEventListener('abort', done)
    resolve()
  }
  signal?.addEventListener('abort', done, { once: true })
})

/**
 * Runs `call`, and after a 429 waits for its Retry-After (1 s when absent) and tries again,
 * as often as the server asks: a rate limit delays an import, it does not fail it.
 */
export async function waitingOut429<T>(call: () => Promise<T>, sleep: Sleep, onWait: (seconds: number) => void): Promise<T> {
  for (;;) {
    try {
      return await call()
    } catch (err) {
      const detail = errorDetail(err)
      if (detail.status !== 429) throw err
      const seconds = Math.max(1, detail.retryAfter ?? 1)
      onWait(seconds)
      await sleep(seconds)
    }
  }
}

/** An organization's id from its id or slug (Clerk's getOrganization takes either). */
export async function resolveOrganization(clerk: ClerkClient, idOrSlug: string): Promise<string> {
  const org = await clerk.organizations.getOrganization(idOrSlug.startsWith('org_') ? { organizationId: idOrSlug } : { slug: idOrSlug })
  return org.id
}

/**
 * A Foyer endpoint that Clerk's SDK has no method for (a Foyer extension), called as the SDK
 * would; an error answer is thrown in the SDK's shape, so errorMessage reads it the same way.
 */
export async function foyerRequest<T>(c: Connection, method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  let res: Response
  try {
    res = await fetch(`${c.apiUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${c.secretKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
  } catch (err) {
    throw { errors: [{ code: 'unexpected_error', message: (err as Error).message }] } satisfies ClerkErrorShape
  }
  const text = await res.text()
  const parsed = text ? JSON.parse(text) as unknown : undefined
  if (res.ok) return parsed as T
  const errors = (parsed as { errors?: Array<{ code: string; message: string; long_message?: string; meta?: { param_name?: string } }> } | undefined)?.errors ?? []
  const retryAfter = Number(res.headers.get('retry-after'))
  throw {
    status: res.status,
    ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfter } : {}),
    errors: errors.length
      ? errors.map((e) => ({ code: e.code, message: e.message, longMessage: e.long_message ?? e.message, meta: { paramName: e.meta?.param_name } }))
      : [{ code: 'unexpected_error', message: `HTTP ${res.status}` }],
  } satisfies ClerkErrorShape
}
