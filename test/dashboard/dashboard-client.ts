import assert from 'node:assert/strict'
import type { LightMyRequestResponse } from 'fastify'
import { buildTestApp, type TestApp } from '../helpers/build-app.js'
import type { Engine } from '../helpers/databases.js'
import { browser, type Browser } from '../pages/page-client.js'
import { createDashboardService } from '../../src/dashboard/dashboard.service.js'

export const OPERATOR_EMAIL = 'ops@example.com'
export const OPERATOR_PASSWORD = 'a long operator password'

const unescape = (text: string) =>
  text.replace(/&(amp|lt|gt|quot|#39);/g, (_, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': '\'' }[e]!))

/** The hidden and visible inputs of the POST form whose action is `action` (exactly, or the first starting with it). */
export function formFields(body: string, action: string): Record<string, string> {
  const forms = [...body.matchAll(/<form method="post" action="([^"]*)"[^>]*>([\s\S]*?)<\/form>/g)]
  const form = forms.find((f) => unescape(f[1]!) === action) ?? forms.find((f) => unescape(f[1]!).startsWith(action))
  assert.ok(form, `no form posting to ${action} in:\n${body}`)
  const fields: Record<string, string> = {}
  for (const [input] of form[2]!.matchAll(/<input [^>]*>/g)) {
    const name = /\sname="([^"]*)"/.exec(input)?.[1]
    if (name) fields[unescape(name)] = unescape(/\svalue="([^"]*)"/.exec(input)?.[1] ?? '')
  }
  return fields
}

/** The CSRF token of any form on the page. */
export const csrfOf = (body: string) => {
  const token = /name="_csrf" value="([^"]*)"/.exec(body)?.[1]
  assert.ok(token, `no CSRF token in:\n${body}`)
  return unescape(token)
}

export const issueSetupToken = (t: TestApp) =>
  createDashboardService({ db: t.db, clock: t.clock, instances: t.services.instances }).issueSetupToken()

export interface Dashboard {
  t: TestApp
  /** A browser signed in as the first operator. */
  op: Browser
  instanceId: string
  secretKey: string
  /** GETs a page and posts its form to `action` with `changes`, as a person submitting it would. */
  submit(from: string, action: string, changes?: Record<string, string>, who?: Browser): Promise<LightMyRequestResponse>
}

/** An app with one instance and its first operator, set up through the setup link and signed in. */
export async function dashboardApp(engine: Engine = 'pglite', options: Omit<Parameters<typeof buildTestApp>[0] & object, 'engine'> = {}): Promise<Dashboard> {
  const t = await buildTestApp({ ...options, engine })
  const { instance, secretKey } = await t.newInstance('Acme')
  const token = await issueSetupToken(t)
  assert.ok(token)
  const op = browser(t.app)
  const page = await op.get(`/dashboard/setup?token=${token}`)
  assert.equal(page.statusCode, 200, page.body)
  const done = await op.post('/dashboard/setup', { ...formFields(page.body, '/dashboard/setup'), email_address: OPERATOR_EMAIL, password: OPERATOR_PASSWORD })
  assert.equal(done.statusCode, 303, done.body)
  const submit = async (from: string, action: string, changes: Record<string, string> = {}, who = op) => {
    const res = await who.get(from)
    assert.equal(res.statusCode, 200, `GET ${from}: ${res.statusCode}\n${res.body}`)
    return who.post(action, { ...formFields(res.body, action), ...changes })
  }
  return { t, op, instanceId: instance.id, secretKey, submit }
}
