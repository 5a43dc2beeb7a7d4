import { Type } from 'typebox'

export const ClerkErrors = Type.Object({
  errors: Type.Array(Type.Object({
    message: Type.String(),
    long_message: Type.String(),
    code: Type.String(),
    meta: Type.Optional(Type.Object({}, { additionalProperties: true })),
  })),
  clerk_trace_id: Type.String(),
}, { $id: 'ClerkErrors' })

export const ClerkErrorsRef = Type.Ref('ClerkErrors')

/** A list as Clerk answers it: the plain array, or `{data, total_count}` with `paginated=true`. */
export const paginated = <T extends Parameters<typeof Type.Array>[0]>(item: T) =>
  Type.Union([Type.Array(item), Type.Object({ data: Type.Array(item), total_count: Type.Integer() })])
