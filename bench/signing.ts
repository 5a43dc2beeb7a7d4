import { generateKeyPairSync, sign } from 'node:crypto'

/**
 * RS256 signatures per second with node:crypto, on the calling thread alone: RSA-2048 with
 * e = 65537 over a session token's `header.payload`, as Foyer signs. What one core can mint
 * at most, with no HTTP, database or JSON around it. Blocks the thread for `seconds`.
 */
export function rs256SignsPerSecond(seconds: number): number {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 0x10001 })
  const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
  const iat = Math.floor(Date.now() / 1000)
  const input = Buffer.from(`${b64({ alg: 'RS256', kid: `jwk_${'x'.repeat(27)}`, typ: 'JWT' })}.${b64({
    sub: `user_${'x'.repeat(27)}`, sid: `sess_${'x'.repeat(27)}`, iat, nbf: iat - 10, exp: iat + 60,
    iss: 'http://localhost:3000', azp: 'http://localhost:5173', sts: 'active', fva: [0, -1], v: 2,
  })}`)
  for (let i = 0; i < 100; i++) sign('sha256', input, privateKey)
  const started = performance.now()
  let n = 0
  while (performance.now() - started < seconds * 1000) {
    sign('sha256', input, privateKey)
    n++
  }
  return n / ((performance.now() - started) / 1000)
}
