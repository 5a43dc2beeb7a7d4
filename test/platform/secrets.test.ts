import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { seal, unseal } from '../../src/platform/secrets.js'

describe('seal() and unseal()', () => {
  const secret = randomBytes(32)
  const key = 'sk_test_' + 'A'.repeat(40)

  it('opens what it sealed, and seals the same text differently each time', () => {
    const a = seal(secret, key, 'secret_key:ins_1:key_1')
    const b = seal(secret, key, 'secret_key:ins_1:key_1')
    assert.notEqual(a, b)
    assert.ok(!a.includes(key) && !a.includes(Buffer.from(key).toString('base64url')))
    assert.equal(unseal(secret, a, 'secret_key:ins_1:key_1'), key)
    assert.equal(unseal(secret, b, 'secret_key:ins_1:key_1'), key)
  })

  it('gives null under another server secret, in another context, or for an altered or truncated value', () => {
    const sealed = seal(secret, key, 'secret_key:ins_1:key_1')
    assert.equal(unseal(randomBytes(32), sealed, 'secret_key:ins_1:key_1'), null)
    assert.equal(unseal(secret, sealed, 'secret_key:ins_2:key_1'), null, 'a sealed key copied onto another row does not open')
    const [version, iv, body, tag] = sealed.split('.') as [string, string, string, string]
    const flipped = Buffer.from(body, 'base64url')
    flipped[0]! ^= 1
    assert.equal(unseal(secret, [version, iv, flipped.toString('base64url'), tag].join('.'), 'secret_key:ins_1:key_1'), null)
    assert.equal(unseal(secret, [version, iv, body, Buffer.from(tag, 'base64url').subarray(0, 4).toString('base64url')].join('.'), 'secret_key:ins_1:key_1'), null, 'a short tag is refused')
    assert.equal(unseal(secret, ['v2', iv, body, tag].join('.'), 'secret_key:ins_1:key_1'), null)
    for (const junk of ['', 'v1', 'v1...', 'not sealed at all']) assert.equal(unseal(secret, junk, 'secret_key:ins_1:key_1'), null)
  })
})
