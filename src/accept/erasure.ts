import type { Queryable } from '../platform/db/db.js'

/**
 * Erases what signing up and signing in kept about a person in one instance: their sign-up
 * attempts (with or without a ticket), sign-in attempts, and invitation links' code attempts
 * and uses under any of `identifiers` (their addresses, lower-cased, and username), the code
 * emails counted for those attempts and for `subjectIds` (their email addresses' ids), and
 * every email or event queued, sent or kept in the dev mailbox about any of them, and their
 * addresses from the audit log (whose records stay). Two statements, through indexes
 * (migrations 028, 029 and 034); call it in the transaction of the deletion that asks for it.
 *
 * Deleting the code emails' rows gives the inbox its hourly budget back: erasing a person
 * weighs more than a limit that only the secret key's holder can reset this way.
 */
export async function eraseSignUpTraces(q: Queryable, instanceId: string, identifiers: string[], subjectIds: string[]): Promise<void> {
  if (identifiers.length === 0 && subjectIds.length === 0) return
  // Records still riding in their events (migration 035) forget the address first, in a
  // statement of their own: it waits for any claim that is moving one of them into the log
  // right now, and the statement below, whose snapshot is taken after, then finds that record
  // in the log. (A record in a row purged below loses its address as the row goes.)
  if (identifiers.length > 0) {
    await q.query(`
      update outbox set audit = audit - 'target_label'
      where status = 'pending' and audit is not null and instance_id = $1 and lower(audit->>'target_label') = any($2::text[])`,
    [instanceId, identifiers])
  }
  await q.query(`
    with attempts as (delete from sign_up_attempts where instance_id = $1 and email_address = any($2::text[]) returning id),
    tickets as (delete from ticket_sign_ups where instance_id = $1 and email_address = any($2::text[])),
    sign_ins as (delete from sign_in_attempts where instance_id = $1 and identifier = any($2::text[])),
    link_attempts as (delete from invitation_link_attempts where instance_id = $1 and email_address = any($2::text[]) returning id),
    -- The link keeps its count; who used it is forgotten.
    link_uses as (delete from invitation_link_uses where instance_id = $1 and email_address = any($2::text[]) returning id),
    subjects as (select id from attempts union all select id from link_attempts union all select id from link_uses union all select unnest($3::text[])),
    codes as (delete from sign_up_code_emails where instance_id = $1 and attempt_id in (select id from subjects)),
    purged as (delete from outbox where instance_id = $1 and subject_id in (select id from subjects)),
    mail as (delete from dev_mailbox_messages where instance_id = $1 and subject_id in (select id from subjects)),
    -- The audit log keeps its records and forgets the address. The setting, evaluated once
    -- before any row is touched, lets this past the log's immutability trigger (migration 032);
    -- the overlap is the expression of the address's GIN index (migration 034).
    audit as (update audit_logs set target_label = null
      where set_config('foyer.audit_maintenance', 'on', true) = 'on'
        and instance_id = $1 and target_label is not null and array[lower(target_label)] && $2::text[])
    select 1`,
  [instanceId, identifiers, subjectIds])
}
