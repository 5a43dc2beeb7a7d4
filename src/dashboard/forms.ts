import type { FastifyRequest } from 'fastify'
import { ApiError } from '../platform/errors.js'
import type { FormError } from './dashboard.views.js'

type FormBody = Record<string, unknown> | undefined

/** A posted form's field as text; '' when absent or repeated. */
export const text = (req: FastifyRequest, name: string): string => {
  const value = (req.body as FormBody)?.[name]
  return typeof value === 'string' ? value : ''
}

/** A refusal the operator can fix on the same form; anything else goes on to the error page. */
export function formError(err: unknown): FormError & { status: number } {
  if (!(err instanceof ApiError) || err.status >= 500 || err.status === 429) throw err
  const param = typeof err.meta.param_name === 'string' ? err.meta.param_name : undefined
  const message = err.code === 'form_param_format_invalid' && param === 'email_address' ? 'Enter a valid email address, such as name@example.com.' : err.longMessage
  return { status: err.status, message, ...(param ? { param } : {}) }
}
