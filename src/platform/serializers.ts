import fastJsonStringify, { type Schema } from 'fast-json-stringify'

type Serializer = (data: unknown) => string

// By schema object: routes declare their response schemas once, at module level, so every app
// a process builds hands the same objects in.
const compiled = new WeakMap<object, Serializer>()

/**
 * Fastify's serializer compiler (fast-json-stringify, as Fastify's default), compiling each
 * response schema once per process rather than once per app. Building an app compiles a
 * serializer for every route and status, hundreds of them; a server builds one app, but the
 * test suite builds thousands, and there this compilation was a quarter of the CPU.
 * `shared` are the schemas routes reach by `$ref` (what `addSchema` registers), by `$id`, the
 * same for every app.
 */
export function cachedSerializerCompiler(shared: Record<string, unknown>) {
  return ({ schema }: { schema: object }): Serializer => {
    let serialize = compiled.get(schema)
    if (!serialize) {
      serialize = fastJsonStringify(schema as Schema, { schema: shared as Record<string, Schema> }) as Serializer
      compiled.set(schema, serialize)
    }
    return serialize
  }
}
