import { it } from 'node:test'
import assert from 'node:assert/strict'
import type { LightMyRequestResponse } from 'fastify'
import { forEachDatabase } from '../helpers/databases.js'
import { browser, textOf, type Browser } from '../pages/page-client.js'
import { hashPassword } from '../../src/users/passwords.js'
import { createDashboardStore } from '../../src/dashboard/dashboard.store.js'
import { ScureBase32Plugin } from 'otplib'
import { TOTP_STEP_MS, totpCode, totpStep } from '../../src/dashboard/totp.js'
import type { OutboxRow } from '../../src/platform/outbox/outbox.store.js'
import { startSmtpSink, type ReceivedMail } from '../email/smtp-sink.js'
import { dashboardApp, formFields, OPERATOR_EMAIL, OPERATOR_PASSWORD, type Dashboard } from './dashboard-client.js'

const unescape = (text: string) => text.replace(/&(amp|lt|gt|quot|#39);/g, (_, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': '\'' }[e]!))
const secretOf = (body: string) => unescape(/id="totp-secret" class="secret" readonly value="([^"]+)"/.exec(body)![1]!).replace(/\s/g, '')
const recoveryCodesOf = (body: string) => /<pre class="mono" id="recovery-codes">([^<]+)<\/pre>/.exec(body)![1]!.split('\n')
const codeNow = (d: Dashboard, secret: string) => totpCode(secret, totpStep(d.t.clock.now()))
/** A 6-digit code that is none of the steps around now. */
const wrongCode = (d: Dashboard, secret: string) => {
  const near = new Set([-1, 0, 1].map((o) => totpCode(secret, totpStep(d.t.clock.now()) + o)))
  for (let n = 0; ; n++) {
    const code = String(n).padStart(6, '0')
    if (!near.has(code)) return code
  }
}

/** Turns one-time codes on for the browser's operator; answers the secret and the recovery codes. */
async function enrol(d: Dashboard, who: Browser = d.op): Promise<{ secret: string; recoveryCodes: string[] }> {
  const started = await d.submit('/dashboard/account/totp', '/dashboard/account/totp/start', {}, who)
  assert.equal(started.statusCode, 200, started.body)
  const secret = secretOf(started.body)
  assert.match(started.body, new RegExp(`otpauth://totp/Foyer:[^"]*secret=${secret}`))
  const done = await who.post('/dashboard/account/totp/confirm', { ...formFields(started.body, '/dashboard/account/totp/confirm'), code: codeNow(d, secret) })
  assert.equal(done.statusCode, 200, done.body)
  return { secret, recoveryCodes: recoveryCodesOf(done.body) }
}

/** Signs in with the password in a fresh browser; answers it and the code page it lands on. */
async function passwordStep(d: Dashboard, email = OPERATOR_EMAIL, password = OPERATOR_PASSWORD): Promise<{ b: Browser; page: LightMyRequestResponse }> {
  const b = browser(d.t.app)
  const res = await d.submit('/dashboard/sign-in', '/dashboard/sign-in', { email_address: email, password }, b)
  assert.equal(res.statusCode, 303, res.body)
  assert.equal(res.headers.location, '/dashboard/sign-in/code')
  assert.equal(b.jar.get('__foyer_operator'), undefined, 'no session before the code')
  const page = await b.follow(res)
  assert.equal(page.statusCode, 200, page.body)
  return { b, page }
}

const sendCode = (b: Browser, page: LightMyRequestResponse, code: string) =>
  b.post('/dashboard/sign-in/code', { ...formFields(page.body, '/dashboard/sign-in/code'), code })

it('one-time codes follow RFC 6238 (its SHA-1 test vectors, 6 digits)', () => {
  const secret = new ScureBase32Plugin().encode(Buffer.from('12345678901234567890'), { padding: false })
  assert.equal(secret, 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ')
  for (const [seconds, code] of [[59, '287082'], [1111111109, '081804'], [1234567890, '005924'], [2000000000, '279037']] as const) {
    assert.equal(totpCode(secret, totpStep(seconds * 1000)), code, String(seconds))
  }
})

forEachDatabase('dashboard operator security', (engine) => {
  it('enrolment needs a current code; sign-in then asks for one, refuses wrong and replayed codes, and takes each recovery code once', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    assert.match(textOf((await d.op.get('/dashboard/account')).body), /One-time codes are off/)

    const started = await d.submit('/dashboard/account/totp', '/dashboard/account/totp/start')
    const secret = secretOf(started.body)
    const wrong = await d.op.post('/dashboard/account/totp/confirm', { ...formFields(started.body, '/dashboard/account/totp/confirm'), code: wrongCode(d, secret) })
    assert.equal(wrong.statusCode, 422)
    assert.match(wrong.body, /aria-invalid="true"/)
    assert.equal(secretOf(wrong.body), secret, 'the same secret is shown beside a refused code')
    const [stored] = await d.t.db.query<{ totp_secret: string; totp_enabled_at: number | null }>('select totp_secret, totp_enabled_at from operators')
    assert.equal(stored!.totp_enabled_at, null)
    assert.ok(!stored!.totp_secret.includes(secret), 'the secret is stored sealed')
    const enrolCode = codeNow(d, secret)
    const done = await d.op.post('/dashboard/account/totp/confirm', { ...formFields(wrong.body, '/dashboard/account/totp/confirm'), code: enrolCode })
    assert.equal(done.statusCode, 200, done.body)
    const recoveryCodes = recoveryCodesOf(done.body)
    assert.equal(recoveryCodes.length, 10)
    assert.equal(new Set(recoveryCodes).size, 10)
    const hashes = await d.t.db.query<{ code_hash: string }>('select code_hash from operator_recovery_codes')
    assert.equal(hashes.length, 10)
    assert.ok(hashes.every((h) => !recoveryCodes.some((c) => h.code_hash.includes(c.replace('-', '')))), 'recovery codes are stored hashed')
    assert.match(textOf((await d.op.get('/dashboard/account')).body), /One-time codes are on.*10 of your recovery codes are unused/s)

    // The password alone makes no session: the pending cookie opens nothing but the code form.
    const { b, page } = await passwordStep(d)
    const gate = await b.get(`/dashboard/${d.instanceId}/invitations`)
    assert.equal(gate.statusCode, 303)
    assert.match(String(gate.headers.location), /^\/dashboard\/sign-in\?next=/)
    // The code used to enrol was used: within its window it does not sign in.
    const replayed = await sendCode(b, page, enrolCode)
    assert.equal(replayed.statusCode, 422)
    assert.match(replayed.body, /not right, or was used already/)
    assert.equal((await sendCode(b, replayed, wrongCode(d, secret))).statusCode, 422)
    d.t.clock.advance(TOTP_STEP_MS)
    const code = codeNow(d, secret)
    const ok = await sendCode(b, replayed, code)
    assert.equal(ok.statusCode, 303, ok.body)
    assert.equal(ok.headers.location, '/dashboard')
    assert.ok(b.jar.get('__foyer_operator'))
    assert.equal(b.jar.get('__foyer_operator_pending'), undefined)
    assert.equal((await b.get(`/dashboard/${d.instanceId}/invitations`)).statusCode, 200)

    // The same code again, from another sign-in: refused.
    const again = await passwordStep(d)
    assert.equal((await sendCode(again.b, again.page, code)).statusCode, 422)
    // A recovery code works once, typed in any case and spacing.
    const recovery = recoveryCodes[0]!
    const rec = await sendCode(again.b, again.page, ` ${recovery.toUpperCase().replace('-', ' ')} `)
    assert.equal(rec.statusCode, 303, rec.body)
    const third = await passwordStep(d)
    const reused = await sendCode(third.b, third.page, recovery)
    assert.equal(reused.statusCode, 422)
    assert.match(textOf((await d.op.get('/dashboard/account')).body), /9 of your recovery codes are unused/)
    // The code form does nothing without a pending sign-in.
    const stranger = browser(d.t.app)
    const csrf = formFields((await stranger.get('/dashboard/sign-in')).body, '/dashboard/sign-in')._csrf!
    const noChallenge = await stranger.post('/dashboard/sign-in/code', { _csrf: csrf, code: codeNow(d, secret) })
    assert.equal(noChallenge.statusCode, 401)
    assert.equal(stranger.jar.get('__foyer_operator'), undefined)
  })

  it('a sign-in halfway dies after five wrong codes, wrong codes are throttled per operator, and turning codes off takes the password and a code', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const { secret } = await enrol(d)
    d.t.clock.advance(TOTP_STEP_MS)
    const { b, page } = await passwordStep(d)
    let last = page
    for (let i = 0; i < 4; i++) {
      last = await sendCode(b, last, wrongCode(d, secret))
      assert.equal(last.statusCode, 422)
    }
    const fifth = await sendCode(b, last, wrongCode(d, secret))
    assert.equal(fifth.statusCode, 401)
    assert.match(fifth.body, /Sign in with your password again/)
    // The right code cannot revive it.
    assert.equal((await sendCode(b, last, codeNow(d, secret))).statusCode, 401)

    // Five more wrong codes from a new sign-in use up the operator's ten; the next try is 429, even with the right code.
    const second = await passwordStep(d)
    last = second.page
    for (let i = 0; i < 4; i++) last = await sendCode(second.b, last, wrongCode(d, secret))
    const third = await passwordStep(d)
    const extra = await sendCode(third.b, third.page, wrongCode(d, secret))
    assert.equal(extra.statusCode, 422)
    const blocked = await sendCode(third.b, extra, codeNow(d, secret))
    assert.equal(blocked.statusCode, 429)
    assert.ok(Number(blocked.headers['retry-after']) > 0)

    // Off: a wrong password is refused, then the password and a code turn codes off.
    d.t.clock.advance(16 * 60 * 1000)
    const wrongPassword = await d.submit('/dashboard/account', '/dashboard/account/totp/disable', { password: 'not the password', code: codeNow(d, secret) })
    assert.equal(wrongPassword.statusCode, 422)
    const off = await d.submit('/dashboard/account', '/dashboard/account/totp/disable', { password: OPERATOR_PASSWORD, code: codeNow(d, secret) })
    assert.equal(off.statusCode, 303, off.body)
    assert.match(textOf((await d.op.follow(off)).body), /One-time codes are off/)
    assert.equal((await d.t.db.query('select 1 from operator_recovery_codes')).length, 0)
    // Turning codes on and off is in the team's audit log, once each (the refused attempt left nothing).
    const audited = await d.t.db.query<{ action: string; actor_type: string }>("select action, actor_type from audit_log_entries where action like 'operator.totp%' order by created_at, seq")
    assert.deepEqual(audited.map((r) => [r.action, r.actor_type]), [['operator.totp_enabled', 'operator'], ['operator.totp_disabled', 'operator']])
    const plain = await d.submit('/dashboard/sign-in', '/dashboard/sign-in', { email_address: OPERATOR_EMAIL, password: OPERATOR_PASSWORD }, browser(d.t.app))
    assert.equal(plain.headers.location, '/dashboard', 'signing in takes the password alone again')
  })

  it('requiring codes of everyone sends an operator without them to enrolment, and nothing else opens until they have', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    // Turning the rule on without codes of one's own would shut out the one turning it on.
    const early = await d.submit('/dashboard/account', '/dashboard/account/require-totp')
    assert.equal(early.statusCode, 409)
    assert.match(early.body, /Turn on one-time codes for your own account first/)
    await enrol(d)
    const required = await d.submit('/dashboard/account', '/dashboard/account/require-totp')
    assert.equal(required.statusCode, 303, required.body)
    assert.match(textOf((await d.op.follow(required)).body), /Every operator must now use one-time codes/)
    assert.doesNotMatch((await d.op.get('/dashboard/account')).body, /Turn off one-time codes/)

    const now = d.t.clock.now()
    await createDashboardStore().insertOperator(d.t.db, { id: 'op_second', email_address: 'second@example.com', password_hash: await hashPassword(OPERATOR_PASSWORD), created_at: now, updated_at: now })
    const bea = browser(d.t.app)
    const signedIn = await d.submit('/dashboard/sign-in', '/dashboard/sign-in', { email_address: 'second@example.com', password: OPERATOR_PASSWORD }, bea)
    assert.equal(signedIn.statusCode, 303)
    for (const path of ['/dashboard', `/dashboard/${d.instanceId}/invitations`, `/dashboard/${d.instanceId}/settings`, '/dashboard/account', '/dashboard/instances/new']) {
      const res = await bea.get(path)
      assert.equal(res.statusCode, 303, path)
      assert.equal(res.headers.location, '/dashboard/account/totp', path)
    }
    const intro = await bea.get('/dashboard/account/totp')
    assert.equal(intro.statusCode, 200)
    assert.match(textOf(intro.body), /requires one-time codes of every operator/)
    const refused = await bea.post('/dashboard/instances', { ...formFields(intro.body, '/dashboard/account/totp/start'), name: 'Sneaky' })
    assert.equal(refused.statusCode, 403)
    assert.equal((await d.t.db.query('select 1 from instances where name = $1', ['Sneaky'])).length, 0)

    // The development mailbox, operators-only, is closed to them too.
    assert.equal((await bea.get('/dev/mailbox')).statusCode, 303)

    await enrol(d, bea)
    assert.equal((await bea.get(`/dashboard/${d.instanceId}/invitations`)).statusCode, 200)
    assert.equal((await bea.get('/dev/mailbox')).statusCode, 200)
    // Lifting the rule lets operators choose again.
    const lifted = await d.submit('/dashboard/account', '/dashboard/account/require-totp')
    assert.equal(lifted.statusCode, 303)
    assert.match((await d.op.get('/dashboard/account')).body, /Turn off one-time codes/)
  })

  it('the Account page lists the operator\'s sessions and ends one or all others; an ended session\'s cookie no longer works', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const signIn = async () => {
      const b = browser(d.t.app)
      assert.equal((await d.submit('/dashboard/sign-in', '/dashboard/sign-in', { email_address: OPERATOR_EMAIL, password: OPERATOR_PASSWORD }, b)).statusCode, 303)
      return b
    }
    const laptop = await signIn()
    const phone = await signIn()
    const inv = `/dashboard/${d.instanceId}/invitations`
    const page = await d.op.get('/dashboard/account')
    assert.equal(page.statusCode, 200)
    const rows = [...page.body.matchAll(/<tr( aria-current="true")?>\n<td>([\s\S]*?)<\/tr>/g)]
    assert.equal(rows.length, 3)
    assert.equal(rows.filter((r) => r[1]).length, 1, 'one session is marked current')
    assert.match(rows.find((r) => r[1])![2]!, /This session/)
    assert.match(page.body, new RegExp(laptop.remoteAddress.replace(/\./g, '\\.')))
    assert.doesNotMatch(page.body, /token_hash|[0-9a-f]{64}/, 'no token hash is shown')
    const laptopRow = rows.find((r) => r[2]!.includes(`>${laptop.remoteAddress}<`))!
    const endAction = unescape(/action="([^"]+\/end)"/.exec(laptopRow[2]!)![1]!)

    const ended = await d.op.post(endAction, formFields(page.body, endAction))
    assert.equal(ended.statusCode, 303)
    assert.equal((await laptop.get(inv)).statusCode, 303, 'the ended session no longer works')
    assert.equal((await phone.get(inv)).statusCode, 200)
    // Ending it again, or another operator's session id, is a 404.
    assert.equal((await d.op.post(endAction, formFields((await d.op.get('/dashboard/account')).body, '/dashboard/account/sessions/'))).statusCode, 404)

    const others = await d.submit('/dashboard/account', '/dashboard/account/sessions/end-others')
    assert.equal(others.statusCode, 303)
    assert.equal((await phone.get(inv)).statusCode, 303)
    const after = await d.op.get('/dashboard/account')
    assert.equal([...after.body.matchAll(/<tr( aria-current="true")?>\n<td>/g)].length, 1)
    assert.doesNotMatch(after.body, /End all other sessions/)

    // Ending this very session signs out.
    const ownAction = unescape(/action="(\/dashboard\/account\/sessions\/[^"]+\/end)"/.exec(after.body)![1]!)
    const own = await d.op.post(ownAction, formFields(after.body, ownAction))
    assert.equal(own.statusCode, 303, own.body)
    assert.equal(own.headers.location, '/dashboard/sign-in?signed_out=1')
    assert.equal((await d.op.get(inv)).statusCode, 303)
  })

  it('a password reset by email works once, expires, ends every session, is throttled, and reads the same for an unknown address', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const ask = async (email: string, who = browser(d.t.app)) => d.submit('/dashboard/forgot-password', '/dashboard/forgot-password', { email_address: email }, who)
    const mailedLink = async () => {
      await d.t.outboxWorker.drain()
      const [message] = await d.t.db.query<{ text: string }>('select text from dev_mailbox_messages where to_address = $1 order by created_at desc limit 1', [OPERATOR_EMAIL])
      assert.ok(message)
      return /(http:\/\/foyer\.test\/dashboard\/reset-password\?token=\S+)/.exec(message.text)![1]!
    }

    assert.match((await browser(d.t.app).get('/dashboard/sign-in')).body, /href="\/dashboard\/forgot-password"/)
    const known = await ask(OPERATOR_EMAIL)
    const unknown = await ask('nobody@example.com')
    assert.equal(known.statusCode, 303)
    assert.equal(unknown.statusCode, 303)
    assert.equal(known.headers.location, unknown.headers.location)
    const b = browser(d.t.app)
    assert.equal((await b.follow(known)).body, (await b.follow(unknown)).body)
    assert.equal((await ask('not an address')).statusCode, 422)

    const link = await mailedLink()
    assert.equal((await d.t.db.query('select 1 from dev_mailbox_messages where to_address = $1', ['nobody@example.com'])).length, 0)
    const token = decodeURIComponent(new URL(link).searchParams.get('token')!)
    const stored = await d.t.db.query<{ token_hash: string }>('select token_hash from operator_password_resets')
    assert.equal(stored.length, 1)
    assert.notEqual(stored[0]!.token_hash, token)
    assert.equal((await d.t.db.query<{ payload: string }>('select payload::text as payload from outbox where topic = $1', ['operator_password_reset']))
      .some((o) => o.payload.includes(token)), false, 'the outbox does not hold the token')

    const other = browser(d.t.app)
    assert.equal((await d.submit('/dashboard/sign-in', '/dashboard/sign-in', { email_address: OPERATOR_EMAIL, password: OPERATOR_PASSWORD }, other)).statusCode, 303)
    const form = await b.get(link)
    assert.equal(form.statusCode, 200)
    const short = await b.post('/dashboard/reset-password', { ...formFields(form.body, '/dashboard/reset-password'), password: 'short' })
    assert.equal(short.statusCode, 422)
    const NEW_PASSWORD = 'a brand new operator password'
    const done = await b.post('/dashboard/reset-password', { ...formFields(short.body, '/dashboard/reset-password'), password: NEW_PASSWORD })
    assert.equal(done.statusCode, 200, done.body)
    assert.match(textOf(done.body), /Every session of your account has ended/)
    for (const who of [d.op, other]) assert.equal((await who.get(`/dashboard/${d.instanceId}/invitations`)).statusCode, 303)
    assert.equal((await b.get(link)).statusCode, 404, 'the link works once')
    assert.equal((await b.post('/dashboard/reset-password', { ...formFields(form.body, '/dashboard/reset-password'), password: 'yet another password' })).statusCode, 404)
    assert.equal((await d.submit('/dashboard/sign-in', '/dashboard/sign-in', { email_address: OPERATOR_EMAIL, password: OPERATOR_PASSWORD }, browser(d.t.app))).statusCode, 422)
    assert.equal((await d.submit('/dashboard/sign-in', '/dashboard/sign-in', { email_address: OPERATOR_EMAIL, password: NEW_PASSWORD }, browser(d.t.app))).statusCode, 303)

    // A link expires after 30 minutes on the test clock.
    d.t.clock.advance(1000)
    await ask(OPERATOR_EMAIL)
    let second = await mailedLink()
    assert.notEqual(second, link)
    // A newer link retires the one before it.
    d.t.clock.advance(1000)
    await ask(OPERATOR_EMAIL)
    const third = await mailedLink()
    assert.equal((await b.get(second)).statusCode, 404)
    assert.equal((await b.get(third)).statusCode, 200)
    second = third
    d.t.clock.advance(31 * 60 * 1000)
    assert.equal((await b.get(second)).statusCode, 404)

    // Five requests per address an hour, known or not; the sixth is 429 and sends nothing.
    for (let i = 0; i < 5; i++) assert.equal((await ask('ghost@example.com')).statusCode, 303)
    const throttled = await ask('ghost@example.com')
    assert.equal(throttled.statusCode, 429)
    assert.ok(Number(throttled.headers['retry-after']) > 0)
    assert.match(throttled.body, /Too many password resets/)
    // And twenty an hour from one IP, whatever the addresses.
    const spray = browser(d.t.app)
    for (let i = 0; i < 20; i++) assert.equal((await ask(`spray${i}@example.com`, spray)).statusCode, 303)
    assert.equal((await ask('spray-last@example.com', spray)).statusCode, 429)
  })

  it('never writes a TOTP secret, code, recovery code or reset token into the log', async (t) => {
    const logLines: string[] = []
    const d = await dashboardApp(engine, { logLines })
    t.after(() => d.t.close())
    const { secret, recoveryCodes } = await enrol(d)
    d.t.clock.advance(TOTP_STEP_MS)
    const code = codeNow(d, secret)
    const { b, page } = await passwordStep(d)
    assert.equal((await sendCode(b, page, code)).statusCode, 303)
    await d.submit('/dashboard/forgot-password', '/dashboard/forgot-password', { email_address: OPERATOR_EMAIL }, browser(d.t.app))
    await d.t.outboxWorker.drain()
    const [message] = await d.t.db.query<{ text: string }>('select text from dev_mailbox_messages where to_address = $1', [OPERATOR_EMAIL])
    const token = new URL(/(http:\/\/\S+reset-password\?token=\S+)/.exec(message!.text)![1]!).searchParams.get('token')!
    assert.equal((await b.get(`/dashboard/reset-password?token=${encodeURIComponent(token)}`)).statusCode, 200)
    const log = logLines.join('\n')
    assert.ok(log.includes('reset-password'), 'the log was written')
    // The 6-digit code only as a value: as bare digits it could be part of any timestamp.
    for (const secretText of [secret, `"${code}"`, `code=${code}`, token, encodeURIComponent(token), ...recoveryCodes]) assert.ok(!log.includes(secretText), 'a secret in the log')
  })

  it('a password reset email waits out an SMTP server that is down and goes once it is back', async (t) => {
    const messages: ReceivedMail[] = []
    let sink = await startSmtpSink(0, messages)
    const port = sink.port
    const d = await dashboardApp(engine, { env: { SMTP_URL: `smtp://127.0.0.1:${port}` } })
    t.after(async () => {
      await d.t.close()
      await sink.stop()
    })
    await sink.stop()
    assert.equal((await d.submit('/dashboard/forgot-password', '/dashboard/forgot-password', { email_address: OPERATOR_EMAIL }, browser(d.t.app))).statusCode, 303)
    await d.t.outboxWorker.drain()
    const [queued] = await d.t.db.query<OutboxRow>('select * from outbox where topic = $1', ['operator_password_reset'])
    assert.equal(queued!.status, 'pending')
    assert.equal(queued!.attempts, 1)
    assert.ok(queued!.last_error)

    sink = await startSmtpSink(port, messages)
    d.t.clock.advance(1000)
    await d.t.outboxWorker.drain()
    assert.equal(messages.length, 1)
    const [mail] = messages
    assert.deepEqual(mail!.envelopeTo, [OPERATOR_EMAIL])
    assert.equal(mail!.mail.subject, 'Reset your Foyer dashboard password')
    assert.doesNotMatch(String(mail!.mail.text), /Acme/, 'nothing of the instance goes into it')
    const link = /(http:\/\/foyer\.test\/dashboard\/reset-password\?token=\S+)/.exec(String(mail!.mail.text))![1]!
    assert.equal((await browser(d.t.app).get(link)).statusCode, 200)
  })
})
