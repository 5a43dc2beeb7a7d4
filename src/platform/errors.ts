/**
 * One error class, one list of codes, one renderer. Codes are Clerk's own strings, so
 * SDK users can branch on `err.errors[0].code` exactly as they do against Clerk.
 */
export type ErrorCode =
  | 'authorization_header_format_invalid'
  | 'clerk_key_invalid'
  // Clerk's 401 to a credential it refuses (the reference's AuthenticationInvalid).
  | 'authentication_invalid'
  | 'resource_not_found'
  | 'request_body_invalid'
  | 'form_param_missing'
  | 'form_param_unknown'
  | 'form_param_format_invalid'
  | 'form_param_type_invalid'
  | 'form_param_value_invalid'
  | 'form_param_max_length_exceeded'
  | 'form_identifier_exists'
  | 'duplicate_record'
  | 'invitation_not_pending'
  // Foyer's own: revoking an invitation link that is revoked already.
  | 'invitation_link_not_active'
  // Foyer's own: revoking a sign-in token that is no longer pending.
  | 'sign_in_token_cannot_be_revoked'
  // Clerk's (from @clerk/shared's error localizations; the reference spec lists no codes).
  | 'organization_minimum_permissions_needed'
  // Foyer's own: a role a member or pending invitation holds cannot be deleted.
  | 'organization_role_in_use'
  | 'already_a_member_in_organization'
  | 'not_a_member_in_organization'
  | 'missing_organization_permission'
  | 'organization_membership_quota_exceeded'
  | 'organization_invitation_not_found'
  | 'organization_invitation_not_pending'
  | 'organization_invitation_not_unique'
  | 'ticket_invalid'
  | 'ticket_expired'
  | 'form_password_incorrect'
  // Clerk's (clerk-js's localizations): a banned or locked account signing in, a wrong password to verify_password.
  | 'user_banned'
  | 'user_locked'
  | 'incorrect_password'
  | 'password_not_set'
  | 'form_password_length_too_short'
  | 'form_password_length_too_long'
  | 'form_identifier_not_found'
  // Clerk's (clerk-js's localizations): a username outside Clerk's default rules.
  | 'form_username_invalid_length'
  | 'form_username_invalid_character'
  | 'form_username_needs_non_number_char'
  | 'form_code_incorrect'
  | 'verification_expired'
  | 'verification_failed'
  | 'verification_already_verified'
  | 'session_exists'
  // Clerk's Frontend API answer (401) to a request that needs a session and has none.
  | 'signed_out'
  | 'not_allowed_access'
  // Clerk's (from @clerk/shared's error localizations): an organization the person is no member of.
  | 'organization_not_found_or_unauthorized'
  | 'sign_up_restricted'
  | 'origin_invalid'
  | 'too_many_requests'
  | 'unsupported_content_type'
  // Foyer's own, for the dashboard's secret keys: one Foyer cannot show again (made before keys
  // were sealed, or sealed under another server secret), one FOYER_SECRET_KEY pins, and the
  // instance's last working key.
  | 'secret_key_not_revealable'
  | 'secret_key_pinned'
  | 'secret_key_last_active'
  // Foyer's own (the reference spec lists no code): a user's primary address while it has others.
  | 'primary_email_address_deletion_forbidden'
  | 'internal_clerk_error'
  // Foyer's own: a process still starting (migrating) answers nothing else.
  | 'service_unavailable'

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly longMessage = message,
    readonly meta: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message)
  }
}

export interface ClerkErrorBody {
  errors: { message: string; long_message: string; code: string; meta?: Record<string, unknown> }[]
  clerk_trace_id: string
}

export function toClerkErrors(err: ApiError, traceId: string): ClerkErrorBody {
  const error: ClerkErrorBody['errors'][number] = { message: err.message, long_message: err.longMessage, code: err.code }
  if (Object.keys(err.meta).length > 0) error.meta = err.meta
  return { errors: [error], clerk_trace_id: traceId }
}

export const notFound = (what: string) =>
  new ApiError(404, 'resource_not_found', 'not found', `No ${what} was found.`)

/** Clerk's Frontend API answer to a request that needs a session and has none: clerk-js then reloads its client, and signs out. */
export const signedOut = () => new ApiError(401, 'signed_out', 'Signed out', 'You are signed out: sign in to continue.')

export const paramError = (status: number, code: ErrorCode, param: string, message: string, longMessage = message) =>
  new ApiError(status, code, message, longMessage, { param_name: param })

export const invalidParam = (param: string, longMessage: string) =>
  paramError(422, 'form_param_format_invalid', param, 'is invalid', longMessage)
