import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Ajv, type ValidateFunction } from 'ajv'
import addFormats from 'ajv-formats'
import { parse } from 'yaml'

/** Clerk's Backend API reference (MIT), vendored with its licence in test/fixtures/clerk-reference. */
export const BAPI_SPEC_FILE = 'clerk-bapi-2026-05-12.yml'

type Schema = Record<string, unknown>

interface OpenApiDocument {
  paths: Record<string, Record<string, { operationId?: string; responses?: Record<string, unknown> }>>
  components: { schemas: Record<string, Schema>; responses: Record<string, Schema> }
}

/**
 * The folder holding package.json above `from`. Tests run both from `test/…` (tsx) and from
 * `dist/test/…` (after tsc), so the depth of the repository root is not fixed.
 */
export function repoRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir
    if (dirname(dir) === dir) throw new Error(`No package.json above ${from}`)
  }
}

/** A reference document by file name, from the repository itself: a clone passes on its own. */
export const referencePath = (file: string) => join(repoRoot(), 'test', 'fixtures', 'clerk-reference', file)
export const bapiSpecPath = () => referencePath(BAPI_SPEC_FILE)

const SPEC_ID = 'clerk-bapi'
const COMPONENTS_REF = '#/components/'
/** Keywords whose values are data, not schemas: never rewritten. */
const DATA_KEYWORDS = new Set(['enum', 'const', 'default', 'example', 'examples'])
const COMPOSITION = ['$ref', 'allOf', 'anyOf', 'oneOf', 'not']

/**
 * An OpenAPI 3.0 schema as JSON Schema for Ajv: `$ref`s into the spec's components are made
 * absolute (so they resolve inside the spec document registered with Ajv), and
 * `nullable: true` becomes an explicit null, which JSON Schema has no keyword for.
 */
export function toJsonSchema(node: unknown, specId = SPEC_ID): unknown {
  if (Array.isArray(node)) return node.map((n) => toJsonSchema(n, specId))
  if (node === null || typeof node !== 'object') return node
  const out: Schema = {}
  for (const [key, value] of Object.entries(node as Schema)) {
    if (key === 'nullable') continue
    if (key === '$ref' && typeof value === 'string' && value.startsWith(COMPONENTS_REF)) out[key] = specId + value
    else out[key] = DATA_KEYWORDS.has(key) ? value : toJsonSchema(value, specId)
  }
  if ((node as Schema).nullable !== true) return out
  // A nullable composition ($ref, allOf…) cannot take null through `type`: each branch would still refuse it.
  if (COMPOSITION.some((k) => k in out)) return { anyOf: [out, { type: 'null' }] }
  if (typeof out.type === 'string') out.type = [out.type, 'null']
  else if (Array.isArray(out.type) && !out.type.includes('null')) out.type = [...out.type, 'null']
  if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null]
  return out
}

export interface BapiSpec {
  readonly ajv: Ajv
  /** Operation `operationId`'s `status` response body schema, as JSON Schema (see toJsonSchema). */
  responseSchema(operationId: string, status: number): Schema
  /** A validator for operation `operationId`'s `status` response body. */
  response(operationId: string, status: number): ValidateFunction
  /** A validator for `#/components/schemas/<name>`. */
  component(name: string): ValidateFunction
}

let loaded: BapiSpec | null = null

/** Reads the reference spec once per process; validators are compiled on first use. */
export function loadBapiSpec(): BapiSpec {
  if (loaded) return loaded
  const doc = parse(readFileSync(bapiSpecPath(), 'utf8')) as OpenApiDocument
  // Clerk's spec carries OpenAPI-only keywords (example, discriminator, x-speakeasy-…): not strict.
  const ajv = new Ajv({ strict: false, allErrors: true, logger: false })
  // ajv-formats is CommonJS: under NodeNext its default import is the module object.
  addFormats.default(ajv)
  const schemas = Object.fromEntries(Object.entries(doc.components.schemas).map(([name, s]) => [name, toJsonSchema(s)]))
  ajv.addSchema({ $id: SPEC_ID, components: { schemas } })

  const operations = new Map<string, Record<string, unknown>>()
  for (const item of Object.values(doc.paths)) {
    for (const op of Object.values(item)) {
      if (op && typeof op === 'object' && op.operationId) operations.set(op.operationId, op.responses ?? {})
    }
  }

  const responseObject = (value: unknown): Schema => {
    const ref = (value as { $ref?: string }).$ref
    if (!ref) return value as Schema
    const name = ref.replace(/^#\/components\/responses\//, '')
    const found = doc.components.responses[name]
    if (!found) throw new Error(`${BAPI_SPEC_FILE}: ${ref} does not exist`)
    return found
  }

  const responseSchema = (operationId: string, status: number): Schema => {
    const responses = operations.get(operationId)
    if (!responses) throw new Error(`${BAPI_SPEC_FILE} has no operation ${operationId}`)
    const declared = responses[String(status)] ?? responses[`${String(status)[0]}XX`] ?? responses.default
    if (!declared) {
      throw new Error(`${BAPI_SPEC_FILE}: ${operationId} declares no ${status} response (it declares ${Object.keys(responses).join(', ')})`)
    }
    const content = responseObject(declared).content as Record<string, { schema?: unknown }> | undefined
    const schema = content?.['application/json']?.schema
    if (!schema) throw new Error(`${BAPI_SPEC_FILE}: ${operationId} ${status} has no application/json schema`)
    return toJsonSchema(schema) as Schema
  }

  const cache = new Map<string, ValidateFunction>()
  const cached = (key: string, make: () => ValidateFunction) => {
    let validate = cache.get(key)
    if (!validate) cache.set(key, (validate = make()))
    return validate
  }

  loaded = {
    ajv,
    responseSchema,
    response: (operationId, status) => cached(`op:${operationId}:${status}`, () => ajv.compile(responseSchema(operationId, status))),
    component: (name) => {
      if (!doc.components.schemas[name]) throw new Error(`${BAPI_SPEC_FILE} has no schema ${name}`)
      return cached(`schema:${name}`, () => ajv.compile({ $ref: `${SPEC_ID}#/components/schemas/${name}` }))
    },
  }
  return loaded
}

/** Fails with Ajv's findings and the offending body when `body` does not satisfy `validate`. */
export function assertMatchesSpec(validate: ValidateFunction, body: unknown, what: string): void {
  if (validate(body)) return
  const findings = (validate.errors ?? []).map((e) => `  ${e.instancePath || '(root)'} ${e.message ?? e.keyword} ${JSON.stringify(e.params)}`)
  assert.fail(`${what} does not match ${BAPI_SPEC_FILE}:\n${findings.join('\n')}\nbody: ${JSON.stringify(body)}`)
}

/** Clerk's webhooks reference (MIT), vendored beside it. */
export const WEBHOOKS_SPEC_FILE = 'clerk-webhooks-2025-04-15.yml'
const WEBHOOKS_SPEC_ID = 'clerk-webhooks'
let webhookAjv: { ajv: Ajv; doc: { 'x-webhooks': Record<string, Record<string, any>> } } | null = null

/** A validator for the whole payload of webhook event `type` (its operation's request body). */
export function webhookEventValidator(type: string): ValidateFunction {
  if (!webhookAjv) {
    const doc = parse(readFileSync(referencePath(WEBHOOKS_SPEC_FILE), 'utf8'))
    const ajv = new Ajv({ strict: false, allErrors: true, logger: false })
    const schemas = Object.fromEntries(Object.entries(doc.components.schemas as Record<string, Schema>).map(([name, s]) => [name, toJsonSchema(s, WEBHOOKS_SPEC_ID)]))
    ajv.addSchema({ $id: WEBHOOKS_SPEC_ID, components: { schemas } })
    webhookAjv = { ajv, doc }
  }
  const schema = webhookAjv.doc['x-webhooks'][type]?.post?.requestBody?.content?.['application/json']?.schema
  if (!schema) throw new Error(`${WEBHOOKS_SPEC_FILE} has no event ${type}`)
  return webhookAjv.ajv.compile(toJsonSchema(schema, WEBHOOKS_SPEC_ID) as Schema)
}

/** Clerk's Frontend API reference (MIT), vendored beside it. */
export const FAPI_SPEC_FILE = 'clerk-fapi-2026-05-12.yml'
const FAPI_SPEC_ID = 'clerk-fapi'
let fapiAjv: Ajv | null = null
const fapiValidators = new Map<string, ValidateFunction>()

/** A validator for the Frontend API reference's `#/components/schemas/<name>` (e.g. `Client.ClientWrappedSignUp`). */
export function fapiComponent(name: string): ValidateFunction {
  if (!fapiAjv) {
    const doc = parse(readFileSync(referencePath(FAPI_SPEC_FILE), 'utf8')) as OpenApiDocument
    fapiAjv = new Ajv({ strict: false, allErrors: true, logger: false })
    addFormats.default(fapiAjv)
    const schemas = Object.fromEntries(Object.entries(doc.components.schemas).map(([n, s]) => [n, toJsonSchema(s, FAPI_SPEC_ID)]))
    fapiAjv.addSchema({ $id: FAPI_SPEC_ID, components: { schemas } })
  }
  let validate = fapiValidators.get(name)
  if (!validate) fapiValidators.set(name, (validate = fapiAjv.compile({ $ref: `${FAPI_SPEC_ID}#/components/schemas/${name}` })))
  return validate
}

/** Fails with Ajv's findings and the body when `body` is not a `name` of the Frontend API reference. */
export function assertMatchesFapi(name: string, body: unknown): void {
  const validate = fapiComponent(name)
  if (validate(body)) return
  const findings = (validate.errors ?? []).map((e) => `  ${e.instancePath || '(root)'} ${e.message ?? e.keyword} ${JSON.stringify(e.params)}`)
  assert.fail(`body does not match ${FAPI_SPEC_FILE} ${name}:\n${findings.slice(0, 30).join('\n')}\nbody: ${JSON.stringify(body)}`)
}
