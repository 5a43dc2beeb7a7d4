-- The audit log: one row per change, written in the transaction of the change itself, so that
-- a change without its record cannot exist (a rollback takes both).
create table audit_logs (
  id text primary key,
  -- the order records were written in, for changes within one millisecond
  seq bigint generated always as identity,
  -- null for a change to the server rather than to one instance (operators, say)
  instance_id text,
  -- 'api_key' (the Backend API: actor_id is the secret key's id, never the key), 'operator'
  -- (the dashboard), 'user' (hosted pages and Frontend API, once the person is known),
  -- 'anonymous' (a public request before anyone is known), 'system' (sweeps, start-up)
  actor_type text not null,
  actor_id text,
  -- what a person reads for the actor: an operator's address, a key's hint; never a secret
  actor_label text,
  -- dotted, as webhook event types are: invitation.revoked, secret_key.rolled, …
  action text not null,
  target_type text,
  target_id text,
  -- what a person reads for the target, such as an invitation's address; erased with the person
  target_label text,
  -- which keys changed (metadata, settings), never their values
  changed_keys text[],
  client_ip text,
  trace_id text,
  -- wall time, as the outbox's
  created_at bigint not null
);
-- The list's order and its time filter, per instance; the other filters narrow it.
create index audit_logs_instance_created on audit_logs (instance_id, created_at desc, seq desc);
create index audit_logs_instance_actor on audit_logs (instance_id, actor_id, created_at desc);
create index audit_logs_instance_target on audit_logs (instance_id, target_id, created_at desc);
-- Erasure finds a person's old records by their address.
create index audit_logs_instance_label on audit_logs (instance_id, lower(target_label)) where target_label is not null;
-- Retention walks the whole log from its oldest end.
create index audit_logs_created on audit_logs (created_at);

-- Immutable: no interface updates or deletes a record. Only the retention pruner and erasure
-- (which removes a person's address and keeps the record) may, each in a transaction that
-- says so with set_config('foyer.audit_maintenance', 'on', true).
create function audit_logs_immutable() returns trigger
language plpgsql as $$
begin
  if coalesce(current_setting('foyer.audit_maintenance', true), '') <> 'on' then
    raise exception 'audit_logs cannot be changed or deleted' using errcode = 'insufficient_privilege';
  end if;
  return case when tg_op = 'DELETE' then old else new end;
end $$;
create trigger audit_logs_immutable before update or delete on audit_logs
  for each row execute function audit_logs_immutable();

-- Every webhook event is a change someone made: each one queued is recorded by the same
-- statement that queues it. The request's actor, IP and trace id ride in the payload under
-- `foyer_audit` (src/platform/audit/audit.ts) and are taken out here, before the row is
-- stored, so that no receiver ever sees them. email.created announces an email, not a change.
create function outbox_audit() returns trigger
language plpgsql as $$
declare
  ctx jsonb := new.payload->'foyer_audit';
  data jsonb := new.payload->'data';
  a_type text := coalesce(ctx->>'actor_type', 'system');
  a_id text := ctx->>'actor_id';
  a_label text := ctx->>'actor_label';
begin
  if ctx is not null then
    new.payload := new.payload - 'foyer_audit';
  end if;
  if new.topic = 'email.created' then
    return new;
  end if;
  -- A public request acts for the person it concerns once there is one.
  if a_type = 'anonymous' and data->>'object' = 'user' then
    a_type := 'user'; a_id := data->>'id';
  elsif a_type = 'anonymous' and data->>'object' = 'session' and data->>'user_id' is not null then
    a_type := 'user'; a_id := data->>'user_id'; a_label := data->>'id';
  end if;
  insert into audit_logs (id, instance_id, actor_type, actor_id, actor_label, action, target_type, target_id, target_label,
    changed_keys, client_ip, trace_id, created_at)
  values (
    'aud_' || substr(new.id, 5), new.instance_id, a_type, a_id, a_label, new.topic,
    coalesce(data->>'object', split_part(new.topic, '.', 1)), coalesce(data->>'id', new.subject_id),
    coalesce(data->>'email_address', data->'public_user_data'->>'identifier', data->>'identifier',
      (select e->>'email_address' from jsonb_array_elements(case when jsonb_typeof(data->'email_addresses') = 'array' then data->'email_addresses' else '[]' end) e
       where e->>'id' = data->>'primary_email_address_id'),
      data->>'name'),
    case when jsonb_typeof(ctx->'changed_keys') = 'array' then array(select jsonb_array_elements_text(ctx->'changed_keys')) end,
    ctx->>'client_ip', ctx->>'trace_id', new.created_at)
  -- An event queued again under its own id (a re-run) is no second change.
  on conflict (id) do nothing;
  return new;
end $$;
create trigger outbox_audit before insert on outbox
  for each row when (new.kind = 'webhook') execute function outbox_audit();
