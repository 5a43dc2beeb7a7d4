type Json = Record<string, unknown>

const isObject = (value: unknown): value is Json => value !== null && typeof value === 'object' && !Array.isArray(value)

/**
 * Clerk's metadata merge (PATCH /v1/users/{id}/metadata): objects merge key by key at every
 * depth, a null value removes its key, and anything else (arrays, scalars) replaces. Neither
 * input is changed.
 */
export function mergeMetadata(stored: Json, patch: Json): Json {
  const merged: Json = { ...stored }
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete merged[key]
    else if (isObject(value) && isObject(merged[key])) merged[key] = mergeMetadata(merged[key] as Json, value)
    // A nested null in a new object removes nothing but must not be stored either.
    else if (isObject(value)) merged[key] = mergeMetadata({}, value)
    else merged[key] = value
  }
  return merged
}
