import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { dummyHash, hashPassword, useScryptCostForTesting, verifyPassword } from '../../src/users/passwords.js'

// No app is built in this file, so the process still has the cost Foyer ships with.
describe('password hashing', () => {
  it('hashes with scrypt N = 2^15, r = 8, p = 1 unless testing lowers N, and verifies either by the parameters each hash carries', async () => {
    const shipped = await hashPassword('correct horse battery')
    assert.match(shipped, /^scrypt\$32768\$8\$1\$[\w-]{22}\$[\w-]{43}$/)
    assert.match(dummyHash(), /^scrypt\$32768\$8\$1\$/)

    useScryptCostForTesting(10)
    const cheap = await hashPassword('correct horse battery')
    assert.match(cheap, /^scrypt\$1024\$8\$1\$/)
    assert.match(dummyHash(), /^scrypt\$1024\$8\$1\$/)

    for (const stored of [shipped, cheap]) {
      assert.equal(await verifyPassword('correct horse battery', stored), true)
      assert.equal(await verifyPassword('correct horse batterx', stored), false)
    }
    assert.equal(await verifyPassword('correct horse battery', dummyHash()), false)
  })
})
