import type { FastifyInstance } from 'fastify'
import { SESSION_COOKIE } from '../accept/session-cookie.js'

/** The route constraint that tells the Frontend API's twin of a Backend API route apart. */
export const CREDENTIAL = 'foyerCredential'

// Both spellings: the cookie is __Host-foyer_session under https (see session-cookie.ts).
const SESSION_COOKIE_PRESENT = new RegExp(`(?:^|;)\\s*(?:${SESSION_COOKIE}|__Host-${SESSION_COOKIE.slice(2)})=`)

/**
 * Clerk serves some paths twice, e.g. `POST /v1/organizations/{id}/invitations`: on its
 * Backend API with a secret key, and on its Frontend API with the browser's session. Foyer
 * serves both on one origin, so the credential decides: a request with an Authorization
 * header goes to the Backend API route (which refuses a bad key as always), one without it
 * but with the session cookie to the Frontend API route (constraint value 'session'), and
 * one with neither to the Backend API route, whose 401 names the missing header.
 *
 * The router is the application's, shared by every plugin: the strategy is added once, by
 * whichever plugin needs it first, before any route uses it.
 */
export function useCredentialConstraint(app: FastifyInstance) {
  if (app.hasConstraintStrategy(CREDENTIAL)) return
  app.addConstraintStrategy({
    name: CREDENTIAL,
    storage() {
      const handlers = new Map<string, unknown>()
      return {
        get: (value: string) => (handlers.get(value) ?? null) as never,
        set: (value: string, handler: unknown) => { handlers.set(value, handler) },
      }
    },
    deriveConstraint(req) {
      const { authorization, cookie } = req.headers
      return authorization === undefined && typeof cookie === 'string' && SESSION_COOKIE_PRESENT.test(cookie) ? 'session' : 'secret_key'
    },
    // Unconstrained routes (the Backend API's) answer whatever value is derived.
    mustMatchWhenDerived: false,
  })
}
