import { paramError } from '../platform/errors.js'
import type { Instance } from '../instance/instance.schemas.js'

/** Clerk's default username bounds (its `username_settings`), in characters. */
export const USERNAME_MIN_LENGTH = 4
export const USERNAME_MAX_LENGTH = 64

/**
 * A username as stored: trimmed and lower-cased, as Clerk stores it. Clerk's default rules:
 * 4 to 64 characters, letters, digits, `_` and `-` only, and not digits alone (a username
 * must not read as a phone number). Refusals carry Clerk's codes and name `param`.
 */
export function normalizeUsername(value: string, param = 'username'): string {
  const username = value.trim().toLowerCase()
  if (username.length < USERNAME_MIN_LENGTH || username.length > USERNAME_MAX_LENGTH) {
    throw paramError(422, 'form_username_invalid_length', param, 'is invalid',
      `Your username must be between ${USERNAME_MIN_LENGTH} and ${USERNAME_MAX_LENGTH} characters long.`)
  }
  if (!/^[a-z0-9_-]+$/.test(username)) {
    throw paramError(422, 'form_username_invalid_character', param, 'is invalid',
      'Your username contains invalid characters. Please use only letters, numbers, underscores and hyphens.')
  }
  if (/^[0-9]+$/.test(username)) {
    throw paramError(422, 'form_username_needs_non_number_char', param, 'is invalid', 'Your username must contain at least one non-numeric character.')
  }
  return username
}

/**
 * The username a request gives, for an instance: undefined when none is given (null or ""
 * remove one), refused with 422 `form_param_unknown` where usernames are off, and with
 * `form_param_missing` when `creating` a user where they are required.
 */
export function usernameParam(instance: Pick<Instance, 'username'>, value: string | null | undefined, creating = false): string | null | undefined {
  const given = value?.trim() ? value : null
  if (!instance.username.enabled) {
    if (given) throw paramError(422, 'form_param_unknown', 'username', 'is unknown', 'Usernames are not enabled for this instance: username is not a valid parameter.')
    return undefined
  }
  if (creating && instance.username.required && !given) throw paramError(422, 'form_param_missing', 'username', 'is missing', 'This instance requires a username.')
  if (value === undefined) return undefined
  return given && normalizeUsername(given)
}

/** Whether a unique violation is the username's (see 023_usernames.sql). */
export const isUsernameViolation = (err: unknown) =>
  /users_instance_username/.test(String((err as { constraint?: string }).constraint ?? (err as Error).message))

export const usernameExists = (username: string) =>
  paramError(422, 'form_identifier_exists', 'username', 'That username is taken. Please try another.', `A user with the username ${username} already exists.`)
