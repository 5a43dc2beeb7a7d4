/**
 * The command-line tool's other verbs as child processes: doctor, operator create (then a
 * sign-in to the dashboard over HTTP), and the invitation and user lists.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseCsv } from '../../src/cli/csv.js'
import { buildTestApp, client, uniqueEmail, type Client, type TestApp } from '../helpers/build-app.js'
import { killAllFoyers, startFoyer } from '../helpers/child-server.js'
import { postgresUrl, seedPgliteDataDir } from '../helpers/databases.js'
import { createDashboardService, createFirstOperator } from '../../src/dashboard/dashboard.service.js'
import { runCli } from './cli-child.js'

const tmp = mkdtempSync(join(tmpdir(), 'foyer-cli-verbs-'))

async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** The `name=value` pairs of a response's Set-Cookie headers, merged into `jar`. */
function keepCookies(jar: Map<string, string>, res: Response) {
  for (const line of res.headers.getSetCookie()) {
    const [pair] = line.split(';')
    const at = pair!.indexOf('=')
    jar.set(pair!.slice(0, at), pair!.slice(at + 1))
  }
}
const cookieHeader = (jar: Map<string, string>) => [...jar].map(([k, v]) => `${k}=${v}`).join('; ')

after(() => {
  killAllFoyers()
  rmSync(tmp, { recursive: true, force: true })
})

describe('foyer doctor', () => {
  it('marks a broken SMTP URL fail, without its password, and exits 2; every finding is one line marked ok, warn or fail', async () => {
    const port = await closedPort()
    const res = await runCli(['doctor'], {
      cwd: tmp,
      env: { FOYER_DATA_DIR: join(tmp, 'doctor'), SMTP_URL: `smtp://mailer:hunter2secret@127.0.0.1:${port}`, FOYER_PUBLIC_URL: 'https://foyer.example.com' },
    })
    assert.equal(res.code, 2, res.stdout + res.stderr)
    const lines = res.stdout.trimEnd().split('\n')
    for (const line of lines) assert.match(line, /^(ok  |warn|fail)  \S/)
    const topics = lines.map((l) => /^\w+\s+([^:]+):/.exec(l)?.[1])
    assert.deepEqual(topics, ['database', 'autovacuum', 'SMTP', 'FOYER_SECRET', 'public URL', 'allowed redirect origins'])
    assert.match(res.stdout, new RegExp(`^fail  SMTP: smtp://mailer@127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`, 'm'))
    assert.doesNotMatch(res.stdout + res.stderr, /hunter2secret/)
    assert.match(res.stdout, /^ok    public URL: https:\/\/foyer\.example\.com; publishable key pk_test_\S+ \(development, Frontend API foyer\.example\.com\)$/m)
  })

  it('on PostgreSQL, reports its version, migrations and autovacuum, and warns that FOYER_SECRET is unset', { skip: postgresUrl ? false : 'TEST_DATABASE_URL is not set' }, async () => {
    const res = await runCli(['doctor'], { cwd: tmp, env: { FOYER_DATA_DIR: join(tmp, 'doctor'), DATABASE_URL: postgresUrl!, FOYER_PUBLIC_URL: 'https://foyer.example.com' } })
    assert.match(res.stdout, /^(ok  |warn)  database: PostgreSQL \d+/m)
    assert.match(res.stdout, /^(ok    autovacuum: on|fail  autovacuum: .*off)/m)
    assert.match(res.stdout, /^warn  FOYER_SECRET: not set while DATABASE_URL is PostgreSQL/m)
    assert.notEqual(res.code, 0)
    const withSecret = await runCli(['doctor'], { cwd: tmp, env: { DATABASE_URL: postgresUrl!, FOYER_SECRET: 'ab'.repeat(32), FOYER_PUBLIC_URL: 'https://foyer.example.com' } })
    assert.match(withSecret.stdout, /^ok    FOYER_SECRET: set \(32 bytes\)$/m)
  })

  it('fails a public URL whose publishable key Clerk\'s SDKs refuse, and a bad variable, naming it', async () => {
    const res = await runCli(['doctor'], { cwd: tmp, env: { FOYER_DATA_DIR: join(tmp, 'doctor'), FOYER_PUBLIC_URL: 'http://foyer:3000' } })
    assert.equal(res.code, 2)
    assert.match(res.stdout, /^fail  public URL: http:\/\/foyer:3000; its publishable key pk_test_\S+ is one Clerk's SDKs refuse/m)
    assert.match(res.stdout, /^warn  SMTP: SMTP_URL is not set/m)
    const bad = await runCli(['doctor'], { cwd: tmp, env: { PORT: 'abc' } })
    assert.equal(bad.code, 2)
    assert.match(bad.stdout, /^fail  configuration: Invalid configuration: PORT /)
  })
})

describe('createFirstOperator, which operator create uses', () => {
  it('closes every setup link, and refuses a second operator with 409 whether another came through a link or not', async () => {
    const t = await buildTestApp()
    try {
      const dashboard = createDashboardService({ db: t.db, clock: t.clock, instances: t.services.instances })
      const link = await dashboard.issueSetupToken()
      assert.ok(link)
      const { operator, sessionToken } = await createFirstOperator({ db: t.db, clock: t.clock }, { emailAddress: 'First@Example.com', password: 'a long operator password' })
      assert.equal(operator.emailAddress, 'first@example.com')
      assert.equal(sessionToken, '', 'headless: nobody to sign in')
      assert.equal(await dashboard.isSetupTokenUsable(link), false)
      await assert.rejects(dashboard.setup(link, { emailAddress: 'late@example.com', password: 'a long operator password' }), { status: 404 })
      await assert.rejects(createFirstOperator({ db: t.db, clock: t.clock }, { emailAddress: 'second@example.com', password: 'a long operator password' }), { status: 409 })
      await assert.rejects(createFirstOperator({ db: t.db, clock: t.clock }, { emailAddress: 'not an address', password: 'a long operator password' }), { status: 422 })
    } finally {
      await t.close()
    }
  })
})

describe('foyer operator create', () => {
  it('creates the first operator from a password on stdin, refuses a second, and the dashboard signs in with it over HTTP', async () => {
    const dataDir = join(tmp, 'operator')
    await seedPgliteDataDir(join(dataDir, 'pgdata'))
    const env = { FOYER_DATA_DIR: dataDir }
    const short = await runCli(['operator', 'create', '--email', 'ops@example.com'], { cwd: tmp, env, stdin: 'short\n' })
    assert.equal(short.code, 1)
    assert.match(short.stderr, /^foyer: Passwords must be \d+ characters or more\. \(password\)\n$/)

    const password = 'a long operator password'
    const created = await runCli(['operator', 'create', '--email', ' Ops@Example.com '], { cwd: tmp, env, stdin: `${password}\n` })
    assert.equal(created.code, 0, created.stderr)
    assert.match(created.stdout, /^operator ops@example\.com created \(op_\w+\); sign in at http:\/\/localhost:3000\/dashboard\/sign-in\n$/)
    const again = await runCli(['operator', 'create', '--email', 'second@example.com'], { cwd: tmp, env, stdin: `${password}\n` })
    assert.equal(again.code, 1)
    assert.match(again.stderr, /^foyer: An operator account exists already: sign in to the dashboard with it\./)
    const noEmail = await runCli(['operator', 'create'], { cwd: tmp, env, stdin: `${password}\n` })
    assert.notEqual(noEmail.code, 0)
    assert.match(noEmail.stderr, /required option '--email <address>'/)

    const foyer = await startFoyer({ FOYER_DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1' }, { cwd: tmp })
    try {
      // The start prints no setup link: an operator exists.
      assert.doesNotMatch(foyer.output(), /dashboard\/setup\?token=/)
      const jar = new Map<string, string>()
      const page = await fetch(`${foyer.baseUrl}/dashboard/sign-in`)
      keepCookies(jar, page)
      const csrf = /name="_csrf" value="([^"]*)"/.exec(await page.text())?.[1]
      assert.ok(csrf)
      const signIn = await fetch(`${foyer.baseUrl}/dashboard/sign-in`, {
        method: 'POST', redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookieHeader(jar) },
        body: new URLSearchParams({ _csrf: csrf, email_address: 'ops@example.com', password }).toString(),
      })
      assert.equal(signIn.status, 303, await signIn.text())
      keepCookies(jar, signIn)
      assert.ok(jar.get('__foyer_operator'))
      // Signed in, the dashboard leads to the default instance's first page, not back to sign-in.
      const home = await fetch(`${foyer.baseUrl}/dashboard`, { redirect: 'manual', headers: { cookie: cookieHeader(jar) } })
      assert.equal(home.status, 303)
      const first = home.headers.get('location')!
      assert.match(first, /^\/dashboard\/ins_\w+/)
      const overview = await fetch(`${foyer.baseUrl}${first}`, { redirect: 'manual', headers: { cookie: cookieHeader(jar) } })
      assert.equal(overview.status, 200)
      assert.match(await overview.text(), /ops@example\.com/)
    } finally {
      await foyer.stop()
    }
  })
})

describe('foyer invitations and users', () => {
  let t: TestApp
  let api: Client
  let env: Record<string, string>
  const cli = (argv: string[]) => runCli(argv, { cwd: tmp, env })

  before(async () => {
    t = await buildTestApp()
    await t.app.listen({ port: 0, host: '127.0.0.1' })
    const address = t.app.server.address()
    const { secretKey } = await t.newInstance('Lists')
    api = client(t.app, secretKey)
    env = { FOYER_API_URL: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`, FOYER_SECRET_KEY: secretKey }
  })
  after(() => t.close())

  it('list, revoke, resend and export invitations with the list\'s filters', async () => {
    const emails = ['ann@example.com', 'bob@example.com', 'cat@example.org']
    const ids: string[] = []
    for (const [i, email] of emails.entries()) {
      const res = await api.post('/v1/invitations', { email_address: email, notify: false, public_metadata: { n: i } })
      assert.equal(res.status, 200)
      ids.push(res.body.id)
    }
    const list = await cli(['invitations', 'list', '--query', 'example.com', '--order-by', 'email_address'])
    assert.equal(list.code, 0, list.stderr)
    assert.deepEqual(list.stdout.trimEnd().split('\n').map((l) => l.split('\t').slice(0, 3)), [[ids[0], 'ann@example.com', 'pending'], [ids[1], 'bob@example.com', 'pending']])
    assert.equal(list.stderr, '1–2 of 2\n')
    const page = await cli(['invitations', 'list', '--limit', '1', '--order-by', 'email_address'])
    assert.equal(page.stdout.split('\t')[1], 'ann@example.com')
    assert.equal(page.stderr, '1–1 of 3 (--offset for more)\n')

    const revoked = await cli(['invitations', 'revoke', ids[1]!, 'inv_nosuchinvitation'])
    assert.equal(revoked.code, 1)
    assert.equal(revoked.stdout.split('\n')[0], `${ids[1]}\trevoked`)
    assert.match(revoked.stdout.split('\n')[1]!, /^inv_nosuchinvitation\terror: \S/)
    assert.equal((await api.get(`/v1/invitations?status=revoked`)).body[0].id, ids[1])

    const resent = await cli(['invitations', 'resend', ids[0]!])
    assert.equal(resent.code, 0, resent.stdout + resent.stderr)
    assert.equal(resent.stdout, `${ids[0]}\tpending, emailed again\n`)
    const refused = await cli(['invitations', 'resend', ids[1]!])
    assert.equal(refused.code, 1)
    assert.match(refused.stdout, new RegExp(`^${ids[1]}\terror: .*revoked`, 'i'))
    assert.doesNotMatch(refused.stdout + refused.stderr, /\n\s+at /)

    const csv = await cli(['invitations', 'export', '--status', 'pending', '--order-by', '+email_address'])
    assert.equal(csv.code, 0, csv.stderr)
    const [header, ...rows] = parseCsv(csv.stdout)
    assert.deepEqual(header, ['id', 'email_address', 'status', 'created_at', 'expires_at', 'public_metadata', 'url'])
    assert.deepEqual(rows.map((r) => [r[0], r[1], r[2], r[5]]), [[ids[0], 'ann@example.com', 'pending', '{"n":0}'], [ids[2], 'cat@example.org', 'pending', '{"n":2}']])
    assert.match(rows[0]![3]!, /^\d{4}-\d\d-\d\dT/)
    assert.equal(csv.stderr, '2 invitations exported\n')

    const json = await cli(['invitations', 'export', '--format', 'json', '--status', 'revoked', '--out', 'revoked.json'])
    assert.equal(json.code, 0, json.stderr)
    const exported = JSON.parse(readFileSync(join(tmp, 'revoked.json'), 'utf8')) as Array<{ id: string; object: string; status: string }>
    assert.deepEqual(exported.map((i) => [i.id, i.object, i.status]), [[ids[1], 'invitation', 'revoked']])
    assert.match(json.stderr, /^1 invitation exported to .*revoked\.json\n$/)

    const badStatus = await cli(['invitations', 'export', '--status', 'lost'])
    assert.notEqual(badStatus.code, 0)
    assert.match(badStatus.stderr, /--status.*lost.*pending/s)
    const badOrder = await cli(['invitations', 'list', '--order-by', 'shoe_size'])
    assert.equal(badOrder.code, 1)
    assert.match(badOrder.stderr, /^foyer: .*\(order_by\)\n$/)
  })

  it('users export writes CSV or JSON with GET /v1/users filters, every page of them', async () => {
    const ids: string[] = []
    for (let i = 0; i < 3; i++) {
      const res = await api.post('/v1/users', { email_address: [`user${i}@corp.example.com`], first_name: `User${i}`, public_metadata: { i } })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      ids.push(res.body.id)
    }
    const other = await api.post('/v1/users', { email_address: [uniqueEmail('outsider')] })
    assert.equal(other.status, 200)

    const csv = await cli(['users', 'export', '--email-address-query', 'corp.example', '--order-by', '+email_address'])
    assert.equal(csv.code, 0, csv.stderr)
    const [header, ...rows] = parseCsv(csv.stdout)
    assert.deepEqual(header, ['id', 'email_address', 'other_email_addresses', 'username', 'first_name', 'last_name', 'created_at', 'last_sign_in_at', 'banned', 'locked', 'public_metadata'])
    assert.deepEqual(rows.map((r) => [r[0], r[1], r[4], r[10]]), ids.map((id, i) => [id, `user${i}@corp.example.com`, `User${i}`, `{"i":${i}}`]))
    assert.equal(csv.stderr, '3 users exported\n')

    const json = await cli(['users', 'export', '--format', 'json', '--email-address', 'user1@corp.example.com', '--out', 'users.json'])
    assert.equal(json.code, 0, json.stderr)
    const users = JSON.parse(readFileSync(join(tmp, 'users.json'), 'utf8')) as Array<{ id: string; object: string }>
    assert.deepEqual(users.map((u) => [u.id, u.object]), [[ids[1], 'user']])

    const all = await cli(['users', 'export', '--created-after', '2000-01-01'])
    assert.equal(parseCsv(all.stdout).length, 5)
    const badDate = await cli(['users', 'export', '--created-after', 'yesterday-ish'])
    assert.notEqual(badDate.code, 0)
    assert.match(badDate.stderr, /--created-after must be a date/)
  })
})
