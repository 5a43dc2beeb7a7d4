import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { SESSION_COOKIE, sessionCookie } from '../../src/accept/session-cookie.js'

describe('session cookie name', () => {
  it('takes the __Host- prefix under https, so a sibling subdomain cannot plant a session', () => {
    assert.equal(sessionCookie('https://auth.example.com').name, '__Host-foyer_session')
    assert.equal(sessionCookie('http://localhost:3000').name, SESSION_COOKIE)
  })
})
