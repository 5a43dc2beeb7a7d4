import { createHmac } from 'node:crypto'
import { sameSecret } from '../platform/secrets.js'

/**
 * The `__refresh` cookie's value for a session: HMAC(server secret, instance and session),
 * derived and never stored. It proves to the refresh path that the caller holds the
 * application's cookie for this very session; the session's own status decides the rest,
 * so ending or revoking the session is what kills it.
 */
export function refreshTokenFor(serverSecret: Buffer, instanceId: string, sessionId: string): string {
  return createHmac('sha256', serverSecret).update(`session refresh:${instanceId}:${sessionId}`).digest('base64url')
}

export const isRefreshToken = (serverSecret: Buffer, instanceId: string, sessionId: string, candidate: string): boolean =>
  sameSecret(candidate, refreshTokenFor(serverSecret, instanceId, sessionId))
