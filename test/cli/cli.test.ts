/**
 * The command-line tool, run in this process with argv and captured output, against a Foyer
 * listening on a port; one check spawns the compiled tool as a child process.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { run, type CliIo } from '../../src/cli/main.js'
import { csvLine, parseCsv } from '../../src/cli/csv.js'
import { APP_ORIGIN, buildTestApp, client, uniqueEmail, type Client, type TestApp } from '../helpers/build-app.js'

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url))

async function cli(argv: string[], env: Record<string, string> = {}, sleep?: CliIo['sleep']) {
  let stdout = ''
  let stderr = ''
  const code = await run(argv, {
    stdout: (t) => { stdout += t },
    stderr: (t) => { stderr += t },
    env, cwd: tmp, ...(sleep ? { sleep } : {}),
  })
  return { code, stdout, stderr }
}

/** The compiled tool as a child process; asynchronous, so that the Foyer in this process can answer it. */
function spawnCli(argv: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...argv], { cwd: tmp, env: { PATH: process.env.PATH ?? '', ...env } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => { stdout += chunk })
    child.stderr.on('data', (chunk) => { stderr += chunk })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

const tmp = mkdtempSync(join(tmpdir(), 'foyer-cli-'))

describe('foyer command-line tool', () => {
  let t: TestApp
  let api: Client
  let env: Record<string, string>

  before(async () => {
    t = await buildTestApp()
    await t.app.listen({ port: 0, host: '127.0.0.1' })
    const address = t.app.server.address()
    const port = typeof address === 'object' && address ? address.port : 0
    const { secretKey } = await t.newInstance('CLI')
    api = client(t.app, secretKey)
    env = { FOYER_API_URL: `http://127.0.0.1:${port}`, FOYER_SECRET_KEY: secretKey }
  })
  after(async () => {
    await t.close()
    rmSync(tmp, { recursive: true, force: true })
  })

  it('explains every verb and option in --help', async () => {
    const top = await cli(['--help'])
    assert.equal(top.code, 0)
    for (const verb of ['start', 'migrate', 'doctor', 'operator', 'invitations', 'users', 'invite', 'import']) assert.match(top.stdout, new RegExp(`\\n  ${verb}\\b`))
    assert.match(top.stdout, /FOYER_API_URL/)
    const invite = await cli(['invite', '--help'])
    assert.equal(invite.code, 0)
    for (const option of ['--redirect-url', '--expires-in-days', '--metadata', '--no-email', '--org', '--role', '--api-url', '--secret-key']) assert.ok(invite.stdout.includes(option), option)
    const imp = await cli(['import', '--help'])
    for (const text of ['--dry-run', '--out', '--concurrency', 'email_address', 'meta.<key>', 'expires_in_days', 'organization, role', 'run the same command again']) assert.ok(imp.stdout.includes(text), text)
    const help = async (argv: string[], texts: string[]) => {
      const res = await cli([...argv, '--help'])
      assert.equal(res.code, 0, argv.join(' '))
      for (const text of texts) assert.ok(res.stdout.includes(text), `${argv.join(' ')}: ${text}`)
    }
    await help(['doctor'], ['autovacuum', 'SMTP', 'FOYER_SECRET', 'publishable key', 'ok, warn or fail'])
    await help(['operator', 'create'], ['--email', 'stdin'])
    await help(['invitations'], ['list', 'revoke', 'resend', 'export'])
    await help(['invitations', 'list'], ['--status', '--query', '--order-by', '--limit', '--offset', '--api-url'])
    await help(['invitations', 'revoke'], ['<id...>'])
    await help(['invitations', 'resend'], ['<id...>', '--expires-in-days'])
    await help(['invitations', 'export'], ['--format', '--out', '--status', '--query', '--order-by'])
    await help(['users', 'export'], ['--format', '--out', '--query', '--email-address', '--user-id', '--username', '--created-after', '--last-sign-in-before', '--order-by'])
    const unknown = await cli(['frobnicate'])
    assert.notEqual(unknown.code, 0)
    assert.match(unknown.stderr, /unknown command 'frobnicate'/)
  })

  it('as a child process, invite exits 0 when every address was invited and 1 when one was not', async () => {
    const email = uniqueEmail('child')
    const ok = await spawnCli(['invite', email, '--no-email'], env)
    assert.equal(ok.code, 0, ok.stderr)
    assert.match(ok.stdout, new RegExp(`^${email.replace(/[.]/g, '\\.')}\tinv_\\w+\n$`))
    const refused = await spawnCli(['invite', email, '--no-email'], env)
    assert.equal(refused.code, 1)
    assert.match(refused.stdout, /error: There is already a pending invitation/)
    assert.equal(refused.stderr, '')
  })

  it('start runs the server as npm start does: it refuses PORT=abc naming PORT', async () => {
    const res = await spawnCli(['start'], { PORT: 'abc', FOYER_DATA_DIR: join(tmp, 'start') })
    assert.notEqual(res.code, 0)
    assert.match(res.stderr, /\bPORT\b/)
  })

  it('migrate applies every migration to a fresh PGlite folder, then finds it up to date', async () => {
    const dataDir = join(tmp, 'data')
    const first = await cli(['migrate'], { FOYER_DATA_DIR: dataDir })
    assert.equal(first.code, 0, first.stderr)
    const count = readdirSync(fileURLToPath(new URL('../../../src/platform/migrations', import.meta.url))).filter((f) => f.endsWith('.sql')).length
    assert.match(first.stdout, new RegExp(`^applied ${count} migrations on PGlite`))
    const again = await cli(['migrate'], { FOYER_DATA_DIR: dataDir })
    assert.equal(again.code, 0, again.stderr)
    assert.match(again.stdout, /is up to date/)
  })

  it('invite creates application invitations with the options, one line per address, and exits 1 on a refusal', async () => {
    const [a, b] = [uniqueEmail('cli-a'), uniqueEmail('cli-b')]
    const res = await cli(['invite', a, b, '--redirect-url', `${APP_ORIGIN}/welcome`, '--expires-in-days', '7', '--metadata', '{"plan":"pro"}', '--no-email'], env)
    assert.equal(res.code, 0, res.stderr)
    const lines = res.stdout.trim().split('\n')
    assert.equal(lines.length, 2)
    const id = lines[0]!.split('\t')[1]!
    assert.match(id, /^inv_/)
    const invitation = (await api.get(`/v1/invitations?query=${encodeURIComponent(a)}`)).body[0]
    assert.equal(invitation.id, id)
    assert.deepEqual(invitation.public_metadata, { plan: 'pro' })
    // The redirect URL and notify are not in Clerk's Invitation object: read from the table.
    const [stored] = await t.db.query<{ redirect_url: string; notify: boolean }>('select redirect_url, notify from invitations where id = $1', [id])
    assert.deepEqual(stored, { redirect_url: `${APP_ORIGIN}/welcome`, notify: false })
    assert.equal(invitation.expires_at - invitation.created_at, 7 * 86_400_000)

    const again = await cli(['invite', a, uniqueEmail('cli-c')], env)
    assert.equal(again.code, 1)
    const [refused, created] = again.stdout.trim().split('\n')
    assert.match(refused!, /error: There is already a pending invitation .* \(email_address\)$/)
    assert.match(created!, /\tinv_/)

    const wrongKey = await cli(['invite', uniqueEmail(), '--secret-key', 'sk_test_notakeynotakeynotakey'], env)
    assert.equal(wrongKey.code, 1)
    assert.doesNotMatch(wrongKey.stdout + wrongKey.stderr, /\n\s+at /)
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const closedPort = (closed.address() as AddressInfo).port
    await new Promise((resolve) => closed.close(resolve))
    const unreachable = await cli(['invite', 'x@example.com', '--api-url', `http://127.0.0.1:${closedPort}`], env)
    assert.equal(unreachable.code, 1)
    assert.equal(unreachable.stdout, 'x@example.com\terror: the Foyer did not answer (fetch failed): check --api-url or FOYER_API_URL\n')
    const noUrl = await cli(['invite', uniqueEmail()], { FOYER_SECRET_KEY: 'sk_test_x' })
    assert.equal(noUrl.code, 1)
    assert.match(noUrl.stderr, /FOYER_API_URL/)
  })

  it('invite --org invites to an organization by slug', async () => {
    const org = (await api.post('/v1/organizations', { name: 'CLI Org', slug: 'cli-org' })).body
    const email = uniqueEmail('cli-org')
    const res = await cli(['invite', email, '--org', 'cli-org', '--role', 'org:member'], env)
    assert.equal(res.code, 0, res.stdout + res.stderr)
    const id = res.stdout.trim().split('\t')[1]
    const list = (await api.get(`/v1/organizations/${org.id}/invitations`)).body.data
    assert.deepEqual(list.map((i: { id: string; email_address: string; role: string }) => [i.id, i.email_address, i.role]), [[id, email, 'org:member']])
    const missingRole = await cli(['invite', email, '--org', 'cli-org'], env)
    assert.equal(missingRole.code, 1)
    assert.match(missingRole.stderr, /--org needs --role/)
    const noOrg = await cli(['invite', email, '--org', 'no-such-org', '--role', 'org:member'], env)
    assert.equal(noOrg.code, 1)
    assert.match(noOrg.stderr, /organization no-such-org: /)
  })

  it('import --dry-run reports every bad row with its number and reason, and sends nothing', async () => {
    const good = uniqueEmail('dry')
    writeFileSync(join(tmp, 'dry.csv'), [
      'email_address,public_metadata,meta.team,expires_in_days,redirect_url,organization,role',
      `${good},"{""a"":1}",red,3,,,`,
      'not-an-email,,,,,,',
      `${uniqueEmail()},{broken,,,,,`,
      `${uniqueEmail()},,,0,,,`,
      `${good.toUpperCase()},,,,,,`,
      `${uniqueEmail()},,,,nowhere,,`,
      `${uniqueEmail()},,,,,cli-org,`,
      `${uniqueEmail()},,,`,
    ].join('\r\n') + '\r\n')
    const before = (await api.get('/v1/invitations?paginated=true')).body.total_count
    const res = await cli(['import', 'dry.csv', '--dry-run'])
    assert.equal(res.code, 1)
    assert.equal(res.stderr, [
      'row 3: email_address not-an-email is not an email address',
      'row 4: public_metadata is not valid JSON',
      'row 5: expires_in_days must be a whole number from 1 to 365',
      `row 6: ${good} is already on row 2`,
      'row 7: redirect_url is not an absolute URL',
      'row 8: role is empty; an organization invitation needs one (e.g. org:member)',
      'row 9: 4 fields where the header has 7',
    ].join('\n') + '\n')
    assert.match(res.stdout, /^1 row ready, 7 bad; nothing was sent/)
    assert.equal((await api.get('/v1/invitations?paginated=true')).body.total_count, before)
    const live = await cli(['import', 'dry.csv'], env)
    assert.equal(live.code, 1)
    assert.match(live.stderr, /7 bad rows: fix them first \(nothing was sent\)/)
    const header = await cli(['import', 'h.csv', '--dry-run'], env)
    assert.match(header.stderr, /no such file/)
  })

  it('import sends bulk batches, skips addresses already invited, writes the result CSV, and waits out a 429', async () => {
    const existing = uniqueEmail('imp-existing')
    assert.equal((await api.post('/v1/invitations', { email_address: existing, notify: false })).status, 200)
    const emails = Array.from({ length: 23 }, (_, i) => uniqueEmail(`imp${i}`))
    emails[12] = existing
    writeFileSync(join(tmp, 'people.csv'), [
      'email_address,meta.team,public_metadata,organization,role',
      ...emails.map((e, i) => `${e},team${i},"{""n"":${i}}",,`),
      `${uniqueEmail('imp-org')},,,cli-org,org:member`,
    ].join('\n') + '\n')
    // Two bulk requests an hour: the third one is refused until the test lifts the limit, as an hour passing would.
    assert.equal((await api.patch('/v1/instance', { rate_limits: { create_invitation_bulk: 2 } })).status, 200)
    const waits: number[] = []
    const sleep = async (seconds: number) => {
      waits.push(seconds)
      await api.patch('/v1/instance', { rate_limits: { create_invitation_bulk: 0 } })
    }
    const res = await cli(['import', 'people.csv', '--no-email', '--out', 'people.out.csv'], env, sleep)
    assert.equal(res.code, 0, res.stdout + res.stderr)
    assert.equal(waits.length, 1)
    assert.ok(waits[0]! > 1 && waits[0]! <= 3600, String(waits[0]))
    assert.match(res.stderr, /rate limited: waiting \d+s as the server asks \(Retry-After\)/)
    assert.match(res.stderr, /24\/24 rows/)
    assert.match(res.stdout, /\n4 bulk requests; the instance allows 2 application and 50 organization bulk requests an hour, so expect about 1 hour of waiting/)
    assert.match(res.stdout, /23 created, 1 skipped, 0 failed; results in .*people\.out\.csv/)

    const [header, ...rows] = parseCsv(readFileSync(join(tmp, 'people.out.csv'), 'utf8'))
    assert.deepEqual(header, ['row', 'email_address', 'invitation_id', 'result'])
    assert.equal(rows.length, 24)
    assert.deepEqual(rows[12], ['14', existing, '', 'skipped'])
    const listed = (await api.get('/v1/invitations?limit=100')).body as Array<{ id: string; email_address: string; public_metadata: unknown }>
    for (const [i, email] of emails.entries()) {
      if (email === existing) continue
      const row = rows[i]!
      assert.deepEqual(row.slice(0, 2), [String(i + 2), email])
      assert.equal(row[3], 'created')
      const invitation = listed.find((inv) => inv.id === row[2])
      assert.ok(invitation, email)
      assert.deepEqual(invitation.public_metadata, { n: i, team: `team${i}` })
    }
    assert.match(rows[23]![2]!, /^orginv_/)
    assert.equal(rows[23]![3], 'created')
  })
  it('import records a row the server refuses with its reason and parameter, invites the rest of its batch, and exits 1', async () => {
    const [good, bad] = [uniqueEmail('imp-good'), uniqueEmail('imp-bad')]
    writeFileSync(join(tmp, 'origin.csv'), `email_address,redirect_url\n${good},${APP_ORIGIN}/in\n${bad},https://elsewhere.example.net/in\n`)
    const res = await cli(['import', 'origin.csv', '--no-email'], env)
    assert.equal(res.code, 1)
    assert.match(res.stdout, /1 created, 0 skipped, 1 failed/)
    const [, first, second] = parseCsv(readFileSync(join(tmp, 'origin.csv.result.csv'), 'utf8'))
    assert.deepEqual([first![0], first![1], first![3]], ['2', good, 'created'])
    assert.deepEqual(second!.slice(0, 3), ['3', bad, ''])
    assert.match(second![3]!, /\(redirect_url\)$/)
  })
})

describe('CSV reading and writing', () => {
  it('reads quoted fields with commas, doubled quotes and line breaks, a BOM, CRLF and LF mixed in one file, and skips blank lines', () => {
    assert.deepEqual(parseCsv('\uFEFFa,b\r\n"x, y","say ""hi""\r\nthere"\r\n\r\nlast,\n'), [['a', 'b'], ['x, y', 'say "hi"\r\nthere'], ['last', '']])
  })

  it('writes what it reads back unchanged', () => {
    const fields = ['plain', 'a,b', 'a "quote"', 'two\nlines', '']
    assert.equal(csvLine(fields), 'plain,"a,b","a ""quote""","two\nlines",\n')
    assert.deepEqual(parseCsv(csvLine(fields)), [fields])
  })

  it('refuses an unterminated quote instead of guessing', () => {
    assert.throws(() => parseCsv('a,b\n"open,x\n'))
  })
})
