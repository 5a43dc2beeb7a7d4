import { Type, type Static } from 'typebox'
import type { SigningKeyRow } from './signing-keys.store.js'

// Clerk's JWKS.rsa.PublicKey: what `verifyToken` imports with WebCrypto (RSASSA-PKCS1-v1_5).
export const Jwk = Type.Object({
  kid: Type.String(),
  kty: Type.Literal('RSA'),
  alg: Type.Literal('RS256'),
  use: Type.Literal('sig'),
  n: Type.String({ description: 'The modulus, base64url.' }),
  e: Type.String({ description: 'The public exponent, base64url (AQAB).' }),
}, { additionalProperties: false })

export const Jwks = Type.Object({
  keys: Type.Array(Jwk, { description: 'The current key first, then keys retired in the last 10 minutes, newest first.' }),
}, { additionalProperties: false })
export type Jwks = Static<typeof Jwks>

export const toJwk = (row: Pick<SigningKeyRow, 'id' | 'n' | 'e'>): Static<typeof Jwk> =>
  ({ kid: row.id, kty: 'RSA', alg: 'RS256', use: 'sig', n: row.n, e: row.e })
