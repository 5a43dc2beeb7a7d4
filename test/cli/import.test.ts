/**
 * `foyer import` as a child process against a Foyer in this process: a large import, and one
 * interrupted with Ctrl-C (SIGINT) and run again.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseCsv } from '../../src/cli/csv.js'
import { buildTestApp, client, type Client, type TestApp } from '../helpers/build-app.js'
import { runCli, spawnCli } from './cli-child.js'

const tmp = mkdtempSync(join(tmpdir(), 'foyer-cli-import-'))

/** Every invitation of the instance, through the API, a page of 500 at a time. */
async function allInvitations(api: Client): Promise<Array<{ id: string; email_address: string }>> {
  const all: Array<{ id: string; email_address: string }> = []
  for (let offset = 0; ; offset += 500) {
    const page = (await api.get(`/v1/invitations?limit=500&offset=${offset}`)).body as Array<{ id: string; email_address: string }>
    all.push(...page)
    if (page.length < 500) return all
  }
}

function writeFile(name: string, emails: string[]) {
  writeFileSync(join(tmp, name), ['email_address,meta.n', ...emails.map((e, i) => `${e},${i}`)].join('\n') + '\n')
}

describe('foyer import, as a child process', () => {
  let t: TestApp
  let baseUrl: string

  before(async () => {
    t = await buildTestApp()
    await t.app.listen({ port: 0, host: '127.0.0.1' })
    const address = t.app.server.address()
    baseUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`
  })
  after(async () => {
    await t.close()
    rmSync(tmp, { recursive: true, force: true })
  })

  /** A fresh instance, so that its invitations are exactly what the test made; its limits as given. */
  async function instance(rateLimits: Record<string, number>) {
    const { secretKey } = await t.newInstance('Import')
    const api = client(t.app, secretKey)
    assert.equal((await api.patch('/v1/instance', { rate_limits: rateLimits })).status, 200)
    return { api, env: { FOYER_API_URL: baseUrl, FOYER_SECRET_KEY: secretKey } }
  }

  it('imports 2,000 rows in parallel bulk requests: each address invited once, the result file complete', async () => {
    const { api, env } = await instance({ create_invitation_bulk: 0 })
    const emails = Array.from({ length: 2000 }, (_, i) => `bulk.${i}@example.com`)
    writeFile('big.csv', emails)
    const res = await runCli(['import', 'big.csv', '--no-email', '--concurrency', '4'], { cwd: tmp, env })
    assert.equal(res.code, 0, res.stdout + res.stderr)
    assert.match(res.stdout, /^importing 2000 rows from big\.csv\n200 bulk requests; the instance allows unlimited application bulk requests an hour, so no waiting is expected\n/)
    assert.match(res.stdout, /2000 created, 0 skipped, 0 failed; results in .*big\.csv\.result\.csv\n$/)
    // Not a terminal: plain progress lines, the last one complete.
    assert.match(res.stderr, /^2000\/2000 rows, [\d.]+ rows\/s, ETA 0s$/m)
    assert.doesNotMatch(res.stderr, /\r/)

    const [header, ...rows] = parseCsv(readFileSync(join(tmp, 'big.csv.result.csv'), 'utf8'))
    assert.deepEqual(header, ['row', 'email_address', 'invitation_id', 'result'])
    assert.deepEqual(rows.map((r) => r[1]), emails, 'in row order')
    assert.ok(rows.every((r) => r[3] === 'created' && r[2]!.startsWith('inv_')))
    const invited = await allInvitations(api)
    assert.equal(invited.length, 2000)
    assert.deepEqual(new Set(invited.map((i) => i.email_address)), new Set(emails))
    assert.deepEqual(new Set(invited.map((i) => i.id)), new Set(rows.map((r) => r[2])))
  })

  it('interrupted with SIGINT half-way, exits 130 saying how to resume; run again, it invites the rest and nobody twice', async () => {
    // 30 bulk requests an hour: the import stops half-way at a 429 and counts down its
    // Retry-After, which is where Ctrl-C comes.
    const { api, env } = await instance({ create_invitation_bulk: 30 })
    const emails = Array.from({ length: 600 }, (_, i) => `resume.${i}@example.com`)
    writeFile('resume.csv', emails)
    const first = spawnCli(['import', 'resume.csv', '--no-email', '--out', 'resume.out.csv'], { cwd: tmp, env })
    await first.waitForStderr(/rate limited: waiting \d+s as the server asks \(Retry-After\)/)
    first.child.kill('SIGINT')
    const stopped = await first.exited
    assert.equal(stopped.code, 130, stopped.stdout + stopped.stderr)
    assert.match(stopped.stderr, /interrupted: finishing the requests under way/)
    assert.match(stopped.stderr, /foyer: interrupted; run the same command again to resume: the 300 rows done are not sent again\n$/)
    assert.match(stopped.stdout, /300 created, 0 skipped, 0 failed, 300 not sent; results in .*resume\.out\.csv\n$/)
    const half = parseCsv(readFileSync(join(tmp, 'resume.out.csv'), 'utf8')).slice(1)
    assert.equal(half.length, 300)
    assert.equal((await allInvitations(api)).length, 300)

    // One row of the second half was invited meanwhile, as a request that went through
    // unrecorded would have been: it comes back as skipped, not as a second invitation.
    assert.equal((await api.post('/v1/invitations', { email_address: emails[599], notify: false })).status, 200)
    assert.equal((await api.patch('/v1/instance', { rate_limits: { create_invitation_bulk: 0 } })).status, 200)
    const again = await runCli(['import', 'resume.csv', '--no-email', '--out', 'resume.out.csv'], { cwd: tmp, env })
    assert.equal(again.code, 0, again.stdout + again.stderr)
    assert.match(again.stdout, /^resuming: 300 of 600 rows were done by an earlier run \(.*resume\.out\.csv\); 300 to go\n/)
    assert.match(again.stdout, /599 created, 1 skipped, 0 failed; results in/)

    const rows = parseCsv(readFileSync(join(tmp, 'resume.out.csv'), 'utf8')).slice(1)
    assert.deepEqual(rows.map((r) => r[1]), emails)
    assert.deepEqual(rows[599]!.slice(3), ['skipped'])
    const invited = await allInvitations(api)
    assert.equal(invited.length, 600)
    assert.deepEqual(invited.map((i) => i.email_address).sort(), [...emails].sort(), 'every address exactly once')

    // A third run finds everything done and sends nothing.
    const third = await runCli(['import', 'resume.csv', '--no-email', '--out', 'resume.out.csv'], { cwd: tmp, env })
    assert.equal(third.code, 0, third.stdout + third.stderr)
    assert.match(third.stdout, /^resuming: 600 of 600 rows were done by an earlier run .*; 0 to go\n599 created, 1 skipped, 0 failed/)
    assert.equal((await allInvitations(api)).length, 600)
  })

  it('refuses a result file written for another file, sending nothing', async () => {
    const { api, env } = await instance({ create_invitation_bulk: 0 })
    writeFile('other.csv', ['someone.else@example.com'])
    writeFileSync(join(tmp, 'taken.csv'), 'row,email_address,invitation_id,result\n2,not.this.one@example.com,inv_x,created\n')
    const res = await runCli(['import', 'other.csv', '--out', 'taken.csv'], { cwd: tmp, env })
    assert.equal(res.code, 1)
    assert.match(res.stderr, /taken\.csv was written for another file: row 2 there is not\.this\.one@example\.com, here someone\.else@example\.com/)
    assert.equal((await allInvitations(api)).length, 0)
  })

  it('stops at an error that is no one row\'s fault (a wrong key), keeping what was done for the next run', async () => {
    const { env } = await instance({ create_invitation_bulk: 0 })
    writeFile('wrongkey.csv', ['a.wrong.key@example.com', 'b.wrong.key@example.com'])
    const res = await runCli(['import', 'wrongkey.csv'], { cwd: tmp, env: { ...env, FOYER_SECRET_KEY: 'sk_test_notakeynotakeynotakey' } })
    assert.equal(res.code, 1)
    assert.match(res.stderr, /^foyer: stopped: .+$/m)
    assert.match(res.stdout, /0 created, 0 skipped, 0 failed, 2 not sent/)
    assert.doesNotMatch(res.stderr, /\n\s+at /)
  })
})
