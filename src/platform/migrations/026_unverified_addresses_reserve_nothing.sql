-- An unverified address reserves nothing. A signed-in person may add any address before proving
-- it (POST /v1/me/email_addresses); were it theirs at once, they could stop its owner from
-- signing up, being invited, or joining an organization. Only a verified address is one user's
-- per instance, and whoever verifies it first owns it; a user holds an address at most once.
alter table email_addresses drop constraint email_addresses_instance_id_email_address_key;
create unique index email_addresses_verified on email_addresses (instance_id, email_address) where verified_at is not null;
create unique index email_addresses_user_address on email_addresses (user_id, email_address);
create index email_addresses_instance_address on email_addresses (instance_id, email_address);

-- The two insert functions, as before, except that only a verified address makes its holder
-- a user (002) or a member (008) already.
create or replace function insert_invitation(
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
            select 1 from email_addresses e where e.instance_id = p_instance_id and e.email_address = p_email_address and e.verified_at is not null))
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

create or replace function insert_organization_invitation(
  p_id text,
  p_instance_id text,
  p_organization_id text,
  p_email_address text,
  p_role text,
  p_inviter_user_id text,       -- null: no inviter to check
  p_public_metadata jsonb,
  p_private_metadata jsonb,
  p_redirect_url text,
  p_source text,
  p_notify boolean,
  p_ticket_nonce text,
  p_ticket_hash text,
  p_expires_at bigint,
  p_now bigint,
  p_outbox jsonb,               -- [{id, kind, topic, payload}]
  p_queued_at bigint            -- wall time: the outbox worker runs on it, not on the test clock
) returns jsonb
language plpgsql volatile as $$
declare
  v_max integer;
  v_permissions text[];
  v_pending_id text;
  v_pending_expires_at bigint;
  v_row organization_invitations%rowtype;
begin
  -- With a seat limit, creates take the organization's row exclusively, so that no two count
  -- the seats at once. Without one, they share it: they then exclude only what locks it
  -- exclusively (membership changes, acceptances, a new limit), and two creates for one
  -- address are told apart by the one-pending index (the later one fails on it).
  select max_allowed_memberships into v_max from organizations
  where id = p_organization_id and instance_id = p_instance_id;
  if not found then
    return jsonb_build_object('refusal', 'organization_not_found');
  end if;
  if v_max > 0 then
    select max_allowed_memberships into v_max from organizations where id = p_organization_id for update;
  else
    select max_allowed_memberships into v_max from organizations where id = p_organization_id for share;
    if v_max > 0 then
      -- A limit was set between the two reads: the caller runs this again, to lock exclusively.
      return jsonb_build_object('refusal', 'retry');
    end if;
  end if;
  if not found then
    return jsonb_build_object('refusal', 'organization_not_found');
  end if;

  if p_inviter_user_id is not null then
    select coalesce(r.permissions, '{}') into v_permissions
    from organization_memberships m
    left join organization_roles r on r.instance_id = p_instance_id and r.key = m.role
    where m.organization_id = p_organization_id and m.user_id = p_inviter_user_id;
    if not found then
      return jsonb_build_object('refusal', 'inviter_not_member');
    end if;
    if not ('org:sys_memberships:manage' = any (v_permissions)) then
      return jsonb_build_object('refusal', 'inviter_missing_permission');
    end if;
  end if;

  -- Shared until commit: a rename or deletion of the role waits for this invitation, then sees
  -- it (and refuses to delete a role in use); one that went first leaves no role to find.
  perform 1 from organization_roles where instance_id = p_instance_id and key = p_role for share;
  if not found then
    return jsonb_build_object('refusal', 'role_not_found');
  end if;

  if exists (
    select 1 from organization_memberships m join email_addresses e on e.user_id = m.user_id
    where m.organization_id = p_organization_id and e.instance_id = p_instance_id and e.email_address = p_email_address and e.verified_at is not null
  ) then
    return jsonb_build_object('refusal', 'already_member');
  end if;

  select id, expires_at into v_pending_id, v_pending_expires_at from organization_invitations
  where organization_id = p_organization_id and email_address = p_email_address and status = 'pending';
  if found then
    if v_pending_expires_at > p_now then
      return jsonb_build_object('refusal', 'not_unique');
    end if;
    -- A stale pending invitation gives way: stored as expired, so the one-pending index lets
    -- the new one in. Its link was dead already.
    update organization_invitations set status = 'expired', updated_at = p_now where id = v_pending_id;
  end if;

  if v_max > 0 and (
    (select count(*) from organization_memberships where organization_id = p_organization_id)
    + (select count(*) from organization_invitations where organization_id = p_organization_id and status = 'pending' and expires_at > p_now)
  ) >= v_max then
    return jsonb_build_object('refusal', 'quota_exceeded', 'max_allowed_memberships', v_max);
  end if;

  insert into organization_invitations (id, instance_id, organization_id, email_address, role, inviter_user_id,
    public_metadata, private_metadata, redirect_url, status, source, notify, ticket_nonce, ticket_hash, expires_at,
    created_at, updated_at)
  values (p_id, p_instance_id, p_organization_id, p_email_address, p_role, p_inviter_user_id,
    p_public_metadata, p_private_metadata, p_redirect_url, 'pending', p_source, p_notify, p_ticket_nonce, p_ticket_hash, p_expires_at,
    p_now, p_now)
  returning * into v_row;

  insert into outbox (id, instance_id, kind, topic, subject_id, payload, next_attempt_at, created_at, updated_at)
  select o->>'id', p_instance_id, o->>'kind', o->>'topic', p_id, o->'payload', p_queued_at, p_queued_at, p_queued_at
  from jsonb_array_elements(p_outbox) o;

  return jsonb_build_object('invitation', to_jsonb(v_row));
end
$$;
