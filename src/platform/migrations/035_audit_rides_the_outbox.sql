-- An audit record rides in its event's outbox row until the outbox worker claims the row, and
-- is then copied into audit_logs with the rest of the claimed batch.
--
-- Until now the outbox's insert trigger wrote the record into audit_logs itself: a statement
-- of its own inside every create, which opened the log and its six indexes once per
-- transaction, for one row. Measured per record with pg_stat_user_functions, that was about
-- 70 µs of a create's PostgreSQL time (the row and statement 28, the primary key 16, each other
-- index about 8), and cost creates about a tenth of their rate. Setting a column of the row
-- being inserted costs about 6 µs; copying a claimed batch costs per record what a bulk insert
-- does.
--
-- A change still cannot exist without its record: the record is written with the event, in the
-- change's transaction, and is only ever moved, never dropped:
-- - the claim that takes the row from 'pending' (the only way out of it) copies the record and
--   clears the column in the same statement;
-- - deleting a row that still holds one (erasing a person, deleting an instance) copies it
--   first, without the address: only erasure deletes such rows;
-- - audit_log_entries shows the log and the records still riding, as one.
alter table outbox add column audit jsonb;

-- The trigger now only takes the request's context out of the payload (no receiver ever sees
-- it) into `audit`, with the record's place in the log's order taken now, when the change is
-- made. An event queued without a context (a statement that does not go through outboxJson)
-- is still recorded, as the system's, with its target read from the event.
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
  if new.topic <> 'email.created' then
    new.audit := ctx || jsonb_build_object('seq', nextval('audit_logs_seq_seq'));
  end if;
  return new;
end $$;

-- The records still riding in the outbox, as audit_logs rows. Only the claim takes a row out
-- of 'pending', and it clears `audit` as it does, so a record rides only in a pending row:
-- the outbox_due index finds them, without an index of their own on every insert.
create view outbox_audit_pending as
select o.id as outbox_id, 'aud_' || substr(o.id, 5) as id, (o.audit->>'seq')::bigint as seq, o.instance_id,
  coalesce(r.actor_type, 'system') as actor_type, r.actor_id, r.actor_label, o.topic as action,
  r.target_type, coalesce(r.target_id, o.subject_id) as target_id, r.target_label, r.changed_keys,
  r.client_ip, r.trace_id, o.created_at
from outbox o
cross join lateral jsonb_to_record(o.audit) as r(actor_type text, actor_id text, actor_label text, target_type text,
  target_id text, target_label text, changed_keys text[], client_ip text, trace_id text)
where o.status = 'pending' and o.audit is not null;

-- The whole log: what every read of it goes through.
create view audit_log_entries as
select id, seq, instance_id, actor_type, actor_id, actor_label, action, target_type, target_id, target_label,
  changed_keys, client_ip, trace_id, created_at
from audit_logs
union all
select id, seq, instance_id, actor_type, actor_id, actor_label, action, target_type, target_id, target_label,
  changed_keys, client_ip, trace_id, created_at
from outbox_audit_pending;

-- Deleting a pending row that still holds a record: only erasure does (a person's events, an
-- instance's rows), so the record is kept without the address it is erasing.
create function outbox_audit_keep() returns trigger
language plpgsql as $$
begin
  insert into audit_logs (id, seq, instance_id, actor_type, actor_id, actor_label, action, target_type, target_id, target_label,
    changed_keys, client_ip, trace_id, created_at)
  overriding system value
  select id, seq, instance_id, actor_type, actor_id, actor_label, action, target_type, target_id, null,
    changed_keys, client_ip, trace_id, created_at
  from outbox_audit_pending where outbox_id = old.id
  on conflict (id) do nothing;
  return old;
end $$;
create trigger outbox_audit_keep before delete on outbox
  for each row when (old.audit is not null) execute function outbox_audit_keep();

-- Records written by the old trigger are in audit_logs already; none rides yet.
