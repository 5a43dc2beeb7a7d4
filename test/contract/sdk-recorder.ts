import { after, afterEach, beforeEach } from 'node:test'
import assert from 'node:assert/strict'
import type { ClerkAPIResponseError } from '@clerk/backend/errors'
import type { ValidateFunction } from 'ajv'
import { assertMatchesSpec } from '../helpers/spec.js'

/** One HTTP exchange as the SDK saw it, before it parsed anything. */
export interface Exchange {
  method: string
  url: URL
  status: number
  headers: Headers
  text: string
  /** The parsed body when the text is JSON, whatever Content-Type said; undefined otherwise. */
  json: unknown
}

export const exchanges: Exchange[] = []
const realFetch = globalThis.fetch

async function recordingFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
  const res = await realFetch(input, init)
  const url = new URL(input instanceof Request ? input.url : String(input))
  const method = (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase()
  const text = await res.clone().text()
  let json: unknown
  try {
    json = text === '' ? undefined : JSON.parse(text)
  } catch {
    json = undefined
  }
  exchanges.push({ method, url, status: res.status, headers: res.headers, text, json })
  return res
}

// @clerk/backend binds `fetch` once, when its runtime module loads (`fetch.bind(globalThis)`),
// so the recorder has to be in place before the SDK is imported, not just around each call.
globalThis.fetch = recordingFetch as typeof fetch
export const { createClerkClient } = await import('@clerk/backend')
export const { isClerkAPIResponseError } = await import('@clerk/backend/errors')
after(() => {
  globalThis.fetch = realFetch
})

/** The latest recorded response to `method path`, checked to be typed exactly as the SDK needs. */
export function recorded(method: string, path: string): Exchange & { body: any } {
  const found = [...exchanges].reverse().find((x) => x.method === method && x.url.pathname === path)
  assert.ok(found, `no ${method} ${path} was sent; sent: ${exchanges.map((x) => `${x.method} ${x.url.pathname}`).join(', ')}`)
  assert.notEqual(found.json, undefined, `${method} ${path} answered ${found.status} with a body that is not JSON: ${found.text.slice(0, 200)}`)
  // The SDK parses a body only when Content-Type is exactly application/json; otherwise it
  // hands the caller a string (and an error without codes).
  assert.equal(found.headers.get('content-type'), 'application/json', `Content-Type of ${method} ${path} (${found.status})`)
  return { ...found, body: found.json }
}

/** The ClerkAPIResponseError `call` rejects with. */
export async function sdkError(call: Promise<unknown>): Promise<ClerkAPIResponseError> {
  try {
    await call
  } catch (err) {
    assert.ok(isClerkAPIResponseError(err), `expected a ClerkAPIResponseError, got ${String(err)}`)
    return err
  }
  return assert.fail('expected the SDK call to throw a ClerkAPIResponseError')
}

/**
 * Each test of the suite starts with an empty record, and every JSON answer it got must say
 * so exactly: the SDK parses a body only when Content-Type is exactly application/json.
 */
export function recordEachTest(): void {
  beforeEach(() => {
    exchanges.length = 0
  })
  afterEach(() => {
    for (const x of exchanges) {
      if (x.json !== undefined) assert.equal(x.headers.get('content-type'), 'application/json', `Content-Type of ${x.method} ${x.url.pathname} (${x.status})`)
    }
  })
}

/** The SDK's error and its raw answer: the status, the code, the parameter named, and a body the spec allows. */
export function assertClerkError(err: ClerkAPIResponseError, raw: Exchange & { body: any }, expected: { status: number; code: string; paramName?: string; schema: ValidateFunction }) {
  assert.equal(raw.status, expected.status)
  assertMatchesSpec(expected.schema, raw.body, `${raw.method} ${raw.url.pathname} ${raw.status} body`)
  assert.equal(err.status, expected.status)
  assert.equal(err.errors[0]?.code, expected.code)
  assert.ok(err.errors[0]?.longMessage)
  if (expected.paramName !== undefined) assert.equal(err.errors[0]?.meta?.paramName, expected.paramName)
}
