-- The outbox's audit trigger (migration 032) worked each record out of the event's payload in
-- PL/pgSQL, field by field; that cost PostgreSQL more per create than writing the record did.
-- The application now sends the whole record under `foyer_audit` (src/platform/audit/audit.ts,
-- outboxJson), and the trigger copies it in one jsonb_to_record. An event queued without one
-- (a statement that does not go through outboxJson) is still recorded, as the system's, with
-- its target read from the event.
create or replace function outbox_audit() returns trigger
language plpgsql as $$
declare
  ctx jsonb := new.payload->'foyer_audit';
begin
  if ctx is null then
    ctx := jsonb_build_object(
      'target_type', coalesce(new.payload->'data'->>'object', split_part(new.topic, '.', 1)),
      'target_id', new.payload->'data'->>'id',
      'target_label', coalesce(new.payload->'data'->>'email_address', new.payload->'data'->>'name'));
  else
    new.payload := new.payload - 'foyer_audit';
  end if;
  if new.topic = 'email.created' then
    return new;
  end if;
  insert into audit_logs (id, instance_id, actor_type, actor_id, actor_label, action, target_type, target_id, target_label,
    changed_keys, client_ip, trace_id, created_at)
  select 'aud_' || substr(new.id, 5), new.instance_id, coalesce(r.actor_type, 'system'), r.actor_id, r.actor_label, new.topic,
    r.target_type, coalesce(r.target_id, new.subject_id), r.target_label, r.changed_keys, r.client_ip, r.trace_id, new.created_at
  from jsonb_to_record(ctx) as r(actor_type text, actor_id text, actor_label text, target_type text, target_id text,
    target_label text, changed_keys text[], client_ip text, trace_id text)
  -- An event queued again under its own id (a re-run) is no second change.
  on conflict (id) do nothing;
  return new;
end $$;

-- Every create writes a record, so each of the log's indexes is paid for on every create.
-- Retention wants the oldest records, and records are stored in the order they were written:
-- a BRIN index over created_at finds them for a few bytes per range of pages, where the b-tree
-- took an entry per record.
drop index audit_logs_created;
create index audit_logs_created on audit_logs using brin (created_at);
