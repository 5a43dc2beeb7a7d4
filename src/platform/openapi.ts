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
