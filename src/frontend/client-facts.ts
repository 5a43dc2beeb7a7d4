import type { FastifyRequest } from 'fastify'
import type { AcceptService, SignedIn, UserFacts } from '../accept/accept.service.js'
import type { SessionTokenService } from '../sessions/session-tokens.js'

/** What the Frontend API's Client and Session show beyond the rows: the User's facts and a fresh session token. */
export interface ClientFacts extends UserFacts {
  /** The Session's `last_active_token`; null for a session that has ended. */
  lastActiveToken: string | null
}

/**
 * The facts of a signed-in person's Client, for the request's page. clerk-js writes the Session's
 * `last_active_token` into the application's `__session` cookie whenever a Client comes back
 * (piggybacked on any answer) and removes that cookie when the token is null: without one,
 * accepting an invitation or inviting a member would sign the application's server out.
 */
export function clientFactsOf(deps: { accept: Pick<AcceptService, 'userFacts'>; tokens: Pick<SessionTokenService, 'mintFor'> }) {
  return async (request: FastifyRequest, signedIn: SignedIn, live = true): Promise<ClientFacts> => {
    const facts = await deps.accept.userFacts(signedIn)
    // The page's origin (`azp`), as for the tokens route; the Origin check let only an allowed one this far.
    const minted = live ? await deps.tokens.mintFor(signedIn.instance, { id: signedIn.session.id }, { azp: request.headers.origin ?? null }) : null
    return { ...facts, lastActiveToken: minted?.jwt ?? null }
  }
}
