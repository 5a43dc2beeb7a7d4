import type { ClerkClient } from '@clerk/backend'
import { csvLine, parseCsv } from './csv.js'
import { errorDetail, errorMessage, resolveOrganization, waitingOut429, type Sleep } from './api.js'

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

export interface ImportOptions {
  clerk: ClerkClient
  notify: boolean
  sleep: Sleep
  /** Progress and waits, one line each. */
  log: (line: string) => void
}

/**
 * Sends the rows in bulk requests of BATCH_SIZE. A bulk request is all or nothing, and its
 * error names the item (`[3].email_address`): that row is recorded (`skipped` when the
 * address already has a pending invitation, a user or a membership) and the rest of the batch
 * is sent again. A 429 is waited out for its Retry-After.
 */
export async function runImport(rows: ImportRow[], options: ImportOptions): Promise<RowResult[]> {
  const results: RowResult[] = []
  const orgIds = new Map<string, string | Error>()
  const groups = new Map<string, ImportRow[]>()
  for (const row of rows) {
    const key = row.organization ?? ''
    groups.set(key, [...(groups.get(key) ?? []), row])
  }
  const started = Date.now()
  let done = 0
  const progress = () => {
    const seconds = (Date.now() - started) / 1000
    const rate = seconds > 0 ? done / seconds : 0
    const eta = rate > 0 ? Math.ceil((rows.length - done) / rate) : null
    options.log(`${done}/${rows.length} rows${rate ? `, ${rate.toFixed(1)} rows/s` : ''}${eta !== null ? `, ETA ${eta}s` : ''}`)
  }
  const record = (row: ImportRow, invitationId: string, outcome: string) => {
    results.push({ row: row.row, emailAddress: row.emailAddress, invitationId, outcome })
    done++
  }

  for (const [organization, group] of groups) {
    let orgId: string | undefined
    if (organization) {
      if (!orgIds.has(organization)) {
        try {
          orgIds.set(organization, await waitingOut429(() => resolveOrganization(options.clerk, organization), options.sleep, waitLine(options)))
        } catch (err) {
          orgIds.set(organization, new Error(`organization ${organization}: ${errorMessage(err)}`))
        }
      }
      const resolved = orgIds.get(organization)!
      if (resolved instanceof Error) {
        for (const row of group) record(row, '', resolved.message)
        progress()
        continue
      }
      orgId = resolved
    }
    for (let i = 0; i < group.length; i += BATCH_SIZE) {
      let batch = group.slice(i, i + BATCH_SIZE)
      while (batch.length) {
        try {
          const ids = await waitingOut429(() => send(options, orgId, batch), options.sleep, waitLine(options))
          batch.forEach((row, k) => record(row, ids[k] ?? '', 'created'))
          batch = []
        } catch (err) {
          const detail = errorDetail(err)
          const index = /^\[(\d+)\]/.exec(detail.param ?? '')
          const at = index ? Number(index[1]) : -1
          if (at >= 0 && at < batch.length) {
            record(batch[at]!, '', detail.code && SKIPPED.has(detail.code) ? 'skipped' : errorMessage(err).replace(/ \(\[\d+\]\.(\w+)\)$/, ' ($1)'))
            batch = batch.filter((_, k) => k !== at)
          } else {
            // Not one item's fault (a bad key, a network failure): every row of the batch gets the error.
            for (const row of batch) record(row, '', errorMessage(err))
            batch = []
          }
        }
      }
      progress()
    }
  }
  return results.sort((a, b) => a.row - b.row)
}

const waitLine = (options: ImportOptions) => (seconds: number) => options.log(`rate limited: waiting ${seconds}s as the server asks (Retry-After)`)

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

export const resultCsv = (results: RowResult[]) =>
  csvLine(['row', 'email_address', 'invitation_id', 'result']) + results.map((r) => csvLine([r.row, r.emailAddress, r.invitationId, r.outcome])).join('')

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
