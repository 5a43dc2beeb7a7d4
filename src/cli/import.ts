import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs'
import type { ClerkClient } from '@clerk/backend'
import { csvLine, parseCsv } from './csv.js'
import { CliError, errorDetail, errorMessage, resolveOrganization, type Sleep } from './api.js'
import type { Progress } from './progress.js'

/** One invitation the file asks for; `row` counts the header as row 1, as a spreadsheet shows it. */
export interface ImportRow {
  row: number
  emailAddress: string
  publicMetadata?: Record<string, unknown>
  redirectUrl?: string
  expiresInDays?: number
  organization?: string
  role?: string
}

export interface BadRow { row: number; reason: string }

const KNOWN = new Set(['email_address', 'public_metadata', 'redirect_url', 'expires_in_days', 'organization', 'role'])
// Enough to catch a shifted column or a typo; the server applies its own, stricter rule.
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/
/** The Backend API takes at most this many invitations in one bulk request. */
export const BATCH_SIZE = 10

/** Reads and checks every row, so that a dry run reports all the bad ones at once. */
export function readImportFile(text: string): { rows: ImportRow[]; bad: BadRow[] } {
  let records: string[][]
  try {
    records = parseCsv(text)
  } catch (err) {
    return { rows: [], bad: [{ row: 0, reason: `not a CSV file: ${(err as Error).message}` }] }
  }
  const header = (records[0] ?? []).map((h) => h.trim())
  if (!header.includes('email_address')) return { rows: [], bad: [{ row: 1, reason: 'the header has no email_address column' }] }
  const unknown = header.filter((h) => !KNOWN.has(h) && !h.startsWith('meta.'))
  if (unknown.length) return { rows: [], bad: [{ row: 1, reason: `unknown column${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} (meta.<key> columns go into public_metadata)` }] }
  const rows: ImportRow[] = []
  const bad: BadRow[] = []
  const seen = new Map<string, number>()
  records.slice(1).forEach((fields, i) => {
    const row = i + 2
    const reasons: string[] = []
    if (fields.length !== header.length) reasons.push(`${fields.length} fields where the header has ${header.length}`)
    const cell = (name: string) => {
      const at = header.indexOf(name)
      const value = at < 0 ? '' : (fields[at] ?? '').trim()
      return value === '' ? undefined : value
    }
    const emailAddress = cell('email_address')?.toLowerCase()
    if (!emailAddress) reasons.push('email_address is empty')
    else if (!EMAIL.test(emailAddress)) reasons.push(`email_address ${emailAddress} is not an email address`)
    else if (seen.has(emailAddress)) reasons.push(`${emailAddress} is already on row ${seen.get(emailAddress)}`)
    else seen.set(emailAddress, row)

    let publicMetadata: Record<string, unknown> | undefined
    const json = cell('public_metadata')
    if (json !== undefined) {
      try {
        const parsed: unknown = JSON.parse(json)
        if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) publicMetadata = parsed as Record<string, unknown>
        else reasons.push('public_metadata is not a JSON object')
      } catch {
        reasons.push('public_metadata is not valid JSON')
      }
    }
    for (const name of header.filter((h) => h.startsWith('meta.'))) {
      const value = cell(name)
      if (value === undefined) continue
      const key = name.slice('meta.'.length)
      if (!key) {
        reasons.push('a meta. column needs a key after the dot')
        continue
      }
      publicMetadata = { ...publicMetadata, [key]: value }
    }

    const redirectUrl = cell('redirect_url')
    if (redirectUrl !== undefined && !URL.canParse(redirectUrl)) reasons.push('redirect_url is not an absolute URL')
    const days = cell('expires_in_days')
    const expiresInDays = days === undefined ? undefined : Number(days)
    if (expiresInDays !== undefined && !(Number.isInteger(expiresInDays) && expiresInDays >= 1 && expiresInDays <= 365)) {
      reasons.push('expires_in_days must be a whole number from 1 to 365')
    }
    const organization = cell('organization')
    const role = cell('role')
    if (organization && !role) reasons.push('role is empty; an organization invitation needs one (e.g. org:member)')
    if (role && !organization) reasons.push('role is given without an organization')

    if (reasons.length) bad.push({ row, reason: reasons.join('; ') })
    else rows.push({ row, emailAddress: emailAddress!, publicMetadata, redirectUrl, expiresInDays, organization, role })
  })
  return { rows, bad }
}

export interface RowResult { row: number; emailAddress: string; invitationId: string; outcome: string }

const SKIPPED = new Set(['duplicate_record', 'form_identifier_exists', 'already_a_member_in_organization', 'organization_invitation_not_unique'])
/** A row with one of these results is not sent again when an import resumes. */
export const isDone = (outcome: string) => outcome === 'created' || outcome === 'skipped'

export interface ImportOptions {
  clerk: ClerkClient
  notify: boolean
  sleep: Sleep
  /** Bulk requests in flight at once. */
  concurrency: number
  progress: Progress
  /** Called with each batch's results as they come, before the next batch is counted done: the journal. */
  onResults: (results: RowResult[]) => void
  /** Once aborted, no request is started; the ones under way finish and are recorded. */
  signal: AbortSignal
}

export interface ImportOutcome {
  results: RowResult[]
  /** Why rows were left unsent: the signal, or an error that is no one row's fault (network, key, server). */
  stopped: null | { interrupted: true } | { error: string }
}

/**
 * One 429 holds every worker: they share the server's limit, so the first Retry-After is
 * waited out once, with one countdown, rather than by each worker on its own. A 429 answering a
 * request sent before the last wait ended is sent again at once: that wait has passed already.
 */
function rateLimitGate(sleep: Sleep, progress: Progress, signal: AbortSignal) {
  let pause: Promise<void> | null = null
  let waitsEnded = 0
  const aborted = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }))
  return {
    /** Waits while a pause is on; returns a mark to hand to `hold` with the request's 429. */
    async pass(): Promise<number> {
      while (pause && !signal.aborted) await pause
      return waitsEnded
    },
    async hold(seconds: number, mark: number): Promise<void> {
      if (mark !== waitsEnded) return
      if (!pause) {
        progress.waiting(seconds)
        pause = Promise.race([sleep(seconds, signal), aborted]).finally(() => {
          pause = null
          waitsEnded++
        })
      }
      return pause
    },
  }
}

class Stop extends Error {}

/**
 * Sends the rows in bulk requests of BATCH_SIZE, `concurrency` at a time. A bulk request is all
 * or nothing, and its error names the item (`[3].email_address`): that row is recorded
 * (`skipped` when the address already has a pending invitation, a user or a membership) and the
 * rest of the batch is sent again. A 429 is waited out for its Retry-After. An error that names
 * no item stops the import: the rows not sent are left for the next run.
 */
export async function runImport(rows: ImportRow[], options: ImportOptions): Promise<ImportOutcome> {
  const results: RowResult[] = []
  let stopped: ImportOutcome['stopped'] = null
  const { signal } = options
  const gate = rateLimitGate(options.sleep, options.progress, signal)
  const record = (batch: RowResult[]) => {
    if (!batch.length) return
    results.push(...batch)
    options.onResults(batch)
    options.progress.update(results.length)
  }
  const stop = (why: NonNullable<ImportOutcome['stopped']>) => {
    stopped ??= why
  }
  const call = async <T>(request: () => Promise<T>): Promise<T> => {
    for (;;) {
      const mark = await gate.pass()
      if (signal.aborted || stopped) throw new Stop()
      try {
        return await request()
      } catch (err) {
        const detail = errorDetail(err)
        if (detail.status !== 429) throw err
        await gate.hold(Math.max(1, detail.retryAfter ?? 1), mark)
      }
    }
  }

  options.progress.start(rows.length)
  const jobs: Array<{ orgId?: string; rows: ImportRow[] }> = []
  const groups = new Map<string, ImportRow[]>()
  for (const row of rows) {
    const key = row.organization ?? ''
    groups.set(key, [...(groups.get(key) ?? []), row])
  }
  try {
    for (const [organization, group] of groups) {
      let orgId: string | undefined
      if (organization) {
        try {
          orgId = await call(() => resolveOrganization(options.clerk, organization))
        } catch (err) {
          if (err instanceof Stop) break
          const detail = errorDetail(err)
          // An unknown organization is those rows' fault; anything else stops the import.
          if (detail.status === 404 || detail.status === 422) {
            record(group.map((row) => ({ row: row.row, emailAddress: row.emailAddress, invitationId: '', outcome: `organization ${organization}: ${errorMessage(err)}` })))
            continue
          }
          stop({ error: `organization ${organization}: ${errorMessage(err)}` })
          break
        }
      }
      for (let i = 0; i < group.length; i += BATCH_SIZE) jobs.push({ orgId, rows: group.slice(i, i + BATCH_SIZE) })
    }
  } catch (err) {
    if (!(err instanceof Stop)) throw err
  }

  const worker = async () => {
    for (let job = jobs.shift(); job; job = jobs.shift()) {
      let batch = job.rows
      const done: RowResult[] = []
      try {
        while (batch.length) {
          try {
            const ids = await call(() => send(options, job.orgId, batch))
            done.push(...batch.map((row, k) => ({ row: row.row, emailAddress: row.emailAddress, invitationId: ids[k] ?? '', outcome: 'created' })))
            batch = []
          } catch (err) {
            if (err instanceof Stop) break
            const detail = errorDetail(err)
            const index = /^\[(\d+)\]/.exec(detail.param ?? '')
            const at = index ? Number(index[1]) : -1
            if (at < 0 || at >= batch.length) {
              stop({ error: errorMessage(err) })
              break
            }
            const row = batch[at]!
            done.push({ row: row.row, emailAddress: row.emailAddress, invitationId: '', outcome: detail.code && SKIPPED.has(detail.code) ? 'skipped' : errorMessage(err).replace(/ \(\[\d+\]\.(\w+)\)$/, ' ($1)') })
            batch = batch.filter((_, k) => k !== at)
          }
        }
      } finally {
        // What is known of a batch is recorded even when the rest of it was not sent.
        record(done)
      }
      if (batch.length) return
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency) }, worker))
  if (signal.aborted) stopped ??= { interrupted: true }
  options.progress.stop()
  return { results: results.sort((a, b) => a.row - b.row), stopped }
}

async function send(options: ImportOptions, orgId: string | undefined, batch: ImportRow[]): Promise<string[]> {
  if (orgId) {
    const answer = await options.clerk.organizations.createOrganizationInvitationBulk(orgId, batch.map((row) => ({
      emailAddress: row.emailAddress, role: row.role!,
      ...(row.publicMetadata ? { publicMetadata: row.publicMetadata } : {}),
      ...(row.redirectUrl ? { redirectUrl: row.redirectUrl } : {}),
      ...(row.expiresInDays ? { expiresInDays: row.expiresInDays } : {}),
    })))
    const list = Array.isArray(answer) ? answer : answer.data
    return list.map((inv) => inv.id)
  }
  const created = await options.clerk.invitations.createInvitationBulk(batch.map((row) => ({
    emailAddress: row.emailAddress, notify: options.notify,
    ...(row.publicMetadata ? { publicMetadata: row.publicMetadata } : {}),
    ...(row.redirectUrl ? { redirectUrl: row.redirectUrl } : {}),
    ...(row.expiresInDays ? { expiresInDays: row.expiresInDays } : {}),
  })))
  return created.map((inv) => inv.id)
}

const RESULT_HEADER = ['row', 'email_address', 'invitation_id', 'result']
export const resultLines = (results: RowResult[]) => results.map((r) => csvLine([r.row, r.emailAddress, r.invitationId, r.outcome])).join('')
export const resultCsv = (results: RowResult[]) => csvLine(RESULT_HEADER) + resultLines(results)

/**
 * The rows an earlier run finished (created or skipped), from its result file, so that a run
 * again with the same file sends only the rest. A row that failed is tried again. A result file
 * whose rows do not match this file's (another file, or this one edited) is refused: trusting
 * it could skip someone.
 */
export function readResults(text: string, rows: ImportRow[], name: string): RowResult[] {
  let records: string[][]
  try {
    records = parseCsv(text)
  } catch (err) {
    throw new CliError(`${name} is not a result file (${(err as Error).message}): move it away, or pass --out elsewhere`)
  }
  if (!records.length) return []
  if (records[0]!.join(',') !== RESULT_HEADER.join(',')) throw new CliError(`${name} is not a result file of foyer import: move it away, or pass --out elsewhere`)
  const byRow = new Map(rows.map((row) => [row.row, row]))
  const done: RowResult[] = []
  for (const [rowText, emailAddress, invitationId, outcome] of records.slice(1)) {
    const row = byRow.get(Number(rowText))
    if (!row || row.emailAddress !== emailAddress) {
      throw new CliError(`${name} was written for another file: row ${rowText} there is ${emailAddress}, here ${row?.emailAddress ?? 'no row'}. Move it away, or pass --out elsewhere`)
    }
    if (outcome && isDone(outcome)) done.push({ row: row.row, emailAddress: row.emailAddress, invitationId: invitationId ?? '', outcome })
  }
  return done
}

/** Written aside, flushed, then renamed over `path`: a crash leaves the old file or the new one, never half of one. */
function replaceDurably(path: string, text: string) {
  const partial = `${path}.partial`
  const fd = openSync(partial, 'w')
  try {
    writeSync(fd, text)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(partial, path)
}

/**
 * The result file written as rows complete: each batch's lines are appended and flushed to
 * disk before the import counts them done, so that after a crash or Ctrl-C the file holds every
 * row the server answered. The finished file is rewritten in row order.
 */
export function openJournal(path: string, previous: RowResult[]) {
  replaceDurably(path, resultCsv(previous))
  const fd = openSync(path, 'a')
  return {
    append(results: RowResult[]) {
      writeSync(fd, resultLines(results))
      fsyncSync(fd)
    },
    close(all: RowResult[]) {
      closeSync(fd)
      replaceDurably(path, resultCsv([...all].sort((a, b) => a.row - b.row)))
    },
  }
}

/** Bulk requests a set of rows takes: per organization (and the application), batches of BATCH_SIZE. */
export function bulkRequests(rows: ImportRow[]): { application: number; organization: number } {
  const counts = new Map<string, number>()
  for (const row of rows) counts.set(row.organization ?? '', (counts.get(row.organization ?? '') ?? 0) + 1)
  let application = 0
  let organization = 0
  for (const [org, n] of counts) {
    if (org) organization += Math.ceil(n / BATCH_SIZE)
    else application = Math.ceil(n / BATCH_SIZE)
  }
  return { application, organization }
}

/**
 * What the instance's hourly limits on bulk creates mean for this import, from Foyer's
 * `GET /v1/instance` (not a Clerk endpoint, so not in the SDK); null when the server does not
 * say, as Clerk itself would not. The window may be partly used already, so this is a floor.
 */
export async function rateLimitEstimate(apiUrl: string, secretKey: string, rows: ImportRow[]): Promise<string | null> {
  let limits: Record<string, number>
  try {
    const res = await fetch(`${apiUrl}/v1/instance`, { headers: { authorization: `Bearer ${secretKey}` } })
    if (!res.ok) return null
    limits = ((await res.json()) as { rate_limits?: Record<string, number> }).rate_limits ?? {}
  } catch {
    return null
  }
  const requests = bulkRequests(rows)
  const hours = (count: number, limit: number | undefined) => (!count || !limit ? 0 : Math.ceil(count / limit) - 1)
  const wait = Math.max(hours(requests.application, limits.create_invitation_bulk), hours(requests.organization, limits.create_organization_invitation_bulk))
  const total = requests.application + requests.organization
  const allowed = [
    requests.application ? `${limits.create_invitation_bulk || 'unlimited'} application` : '',
    requests.organization ? `${limits.create_organization_invitation_bulk || 'unlimited'} organization` : '',
  ].filter(Boolean).join(' and ')
  return `${total} bulk request${total === 1 ? '' : 's'}; the instance allows ${allowed} bulk requests an hour, ` +
    (wait ? `so expect about ${wait} hour${wait === 1 ? '' : 's'} of waiting (PATCH /v1/instance rate_limits raises the limit)` : 'so no waiting is expected')
}
