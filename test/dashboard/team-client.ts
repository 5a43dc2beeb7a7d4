import assert from 'node:assert/strict'
import type { LightMyRequestResponse } from 'fastify'
import { browser, type Browser } from '../pages/page-client.js'
import type { SmtpSink } from '../email/smtp-sink.js'
import { csrfOf, type Dashboard } from './dashboard-client.js'

export const MEMBER_PASSWORD = 'a long member password'

/** Posts a form with repeated fields (checkboxes), as a browser sends them, with `who`'s cookies. */
export async function postPairs(d: Dashboard, who: Browser, url: string, pairs: [string, string][]): Promise<LightMyRequestResponse> {
  const cookie = [...who.jar].map(([k, v]) => `${k}=${v}`).join('; ')
  return d.t.app.inject({
    method: 'POST', url, remoteAddress: who.remoteAddress,
    headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams(pairs).toString(),
  })
}

export interface AccessChoice {
  role: 'owner' | 'admin' | 'viewer'
  /** Omitted: all instances. */
  instanceIds?: string[]
}

const accessPairs = (a: AccessChoice): [string, string][] =>
  [['role', a.role], ['scope', a.instanceIds ? 'some' : 'all'], ...(a.instanceIds ?? []).map((id): [string, string] => ['instance_ids', id])]

/** The owner `who` invites `email` from the Operators page; answers the POST's answer. */
export async function invite(d: Dashboard, email: string, access: AccessChoice, who = d.op): Promise<LightMyRequestResponse> {
  const page = await who.get('/dashboard/operators')
  assert.equal(page.statusCode, 200, page.body)
  return postPairs(d, who, '/dashboard/operators/invitations', [['_csrf', csrfOf(page.body)], ['email_address', email], ...accessPairs(access)])
}

/** The owner `who` changes an operator's role and reach. */
export async function changeAccess(d: Dashboard, operatorId: string, access: AccessChoice, who = d.op): Promise<LightMyRequestResponse> {
  const page = await who.get('/dashboard/operators')
  assert.equal(page.statusCode, 200, page.body)
  return postPairs(d, who, `/dashboard/operators/${operatorId}/access`, [['_csrf', csrfOf(page.body)], ...accessPairs(access)])
}

/** The operator invitation link in the last email the sink received for `email`, after delivering what is due. */
export async function invitationLinkFor(d: Dashboard, sink: SmtpSink, email: string): Promise<string> {
  await d.t.outboxWorker.drain()
  const mail = sink.messages.filter((m) => m.envelopeTo.includes(email)).at(-1)
  assert.ok(mail, `no email to ${email}`)
  const link = /http:\/\/foyer\.test(\/dashboard\/invitations\/accept\?token=[A-Za-z0-9_-]+)/.exec(mail.mail.text ?? '')?.[1]
  assert.ok(link, `no invitation link in:\n${mail.mail.text}`)
  return link
}

/** Follows an invitation link in a fresh browser, chooses a password, and answers that browser, signed in. */
export async function acceptInvitation(d: Dashboard, link: string): Promise<Browser> {
  const b = browser(d.t.app)
  const page = await b.get(link)
  assert.equal(page.statusCode, 200, page.body)
  const done = await b.submit(page, { password: MEMBER_PASSWORD })
  assert.equal(done.statusCode, 303, done.body)
  assert.equal(done.headers.location, '/dashboard')
  return b
}

/** Invites `email` with `access` and accepts: a browser signed in as the new operator, and their id. */
export async function newMember(d: Dashboard, sink: SmtpSink, email: string, access: AccessChoice): Promise<{ b: Browser; id: string }> {
  const res = await invite(d, email, access)
  assert.equal(res.statusCode, 303, res.body)
  const b = await acceptInvitation(d, await invitationLinkFor(d, sink, email))
  const [row] = await d.t.db.query<{ id: string }>('select id from operators where email_address = $1', [email])
  return { b, id: row!.id }
}
