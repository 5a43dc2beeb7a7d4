import assert from 'node:assert/strict'

/** A JWT's payload, unverified: what a test reads of a token it already trusts or means to forge. */
export const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString())

/** The error a verification threw; fails the test if the token was accepted. */
export async function refusal(call: Promise<unknown>): Promise<{ reason?: string }> {
  try {
    await call
  } catch (err) {
    return err as { reason?: string }
  }
  assert.fail('the token was accepted')
}
