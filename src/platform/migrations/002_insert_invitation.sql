-- Creating an invitation in one round trip. Without ignore_existing, the "does this address
-- already have a pending invitation or a user?" check must run after the address lock is
-- held, with a snapshot taken after it: a single SQL statement's snapshot predates any lock
-- it takes, so the lock and the guarded insert live in this function, whose statements each
-- see what the previous holder of the lock committed. Called on its own it is its own
-- transaction, and the lock is released at its commit.
create function insert_invitation(
  p_lock_key bigint,            -- null: take no lock
  p_require_no_pending boolean,
  p_require_no_user boolean,
  p_id text,
  p_instance_id text,
  p_email_address text,
  p_public_metadata jsonb,
  p_redirect_url text,
  p_notify boolean,
  p_template_slug text,
  p_ticket_nonce text,
  p_ticket_hash text,
  p_expires_at bigint,
  p_now bigint,
  p_outbox jsonb,               -- [{id, kind, topic, payload}]
  p_queued_at bigint            -- wall time: the outbox worker runs on it, not on the test clock
) returns setof invitations
language plpgsql volatile as $$
begin
  if p_lock_key is not null then
    perform pg_advisory_xact_lock(p_lock_key);
  end if;
  return query
  with inv as (
    insert into invitations (id, instance_id, email_address, public_metadata, redirect_url, status, notify,
                             template_slug, ticket_nonce, ticket_hash, expires_at, created_at, updated_at)
    select p_id, p_instance_id, p_email_address, p_public_metadata, p_redirect_url, 'pending', p_notify,
           p_template_slug, p_ticket_nonce, p_ticket_hash, p_expires_at, p_now, p_now
    where (not p_require_no_pending or not exists (
            select 1 from invitations i where i.instance_id = p_instance_id and i.email_address = p_email_address
              and i.status = 'pending' and i.expires_at > p_now))
      and (not p_require_no_user or not exists (
            select 1 from email_addresses e where e.instance_id = p_instance_id and e.email_address = p_email_address))
    returning *
  ),
  counted as (
    insert into invitation_counts (instance_id, status, shard, n)
    select inv.instance_id, 'pending', (txid_current() % 16)::smallint, 1 from inv
    on conflict (instance_id, status, shard) do update set n = invitation_counts.n + excluded.n
  ),
  queued as (
    insert into outbox (id, instance_id, kind, topic, subject_id, payload, next_attempt_at, created_at, updated_at)
    select o->>'id', inv.instance_id, o->>'kind', o->>'topic', inv.id, o->'payload', p_queued_at, p_queued_at, p_queued_at
    from inv, jsonb_array_elements(p_outbox) o
  )
  select * from inv;
end
$$;
