-- Operators as a team: each operator has a role, and reaches every instance or a chosen few.
-- Every operator made before this migration becomes an owner of every instance, as they were
-- in effect; so does the first operator made through the setup link or the command line, which
-- insert no role (hence the defaults).
alter table operators add column role text not null default 'owner'
  check (role in ('owner', 'admin', 'viewer'));
-- false: only the instances in operator_instances. An owner manages operators, so could grant
-- themselves any instance: a scope would be no boundary for them, and they reach every one.
alter table operators add column all_instances boolean not null default true;
alter table operators add constraint operators_owner_all_instances check (role <> 'owner' or all_instances);

create table operator_instances (
  operator_id text not null references operators (id) on delete cascade,
  instance_id text not null references instances (id) on delete cascade,
  primary key (operator_id, instance_id)
);
create index operator_instances_instance on operator_instances (instance_id);

-- An owner's invitation of a colleague, by email, with the role and scope they will get.
create table operator_invitations (
  id text primary key,
  -- lower-cased, as operators.email_address
  email_address text not null,
  role text not null check (role in ('owner', 'admin', 'viewer')),
  all_instances boolean not null,
  -- the link's token is HMAC(server secret, "<id>:<nonce>"), derived again to send the email;
  -- only its sha256 is kept to find the invitation, so a copy of this table opens nothing
  token_nonce text not null,
  token_hash text not null unique,
  -- 'pending' | 'accepted' | 'revoked'
  status text not null default 'pending',
  invited_by text references operators (id) on delete set null,
  created_at bigint not null,
  updated_at bigint not null,
  expires_at bigint not null,
  check (role <> 'owner' or all_instances)
);
-- One pending invitation per address: two live links for one person could grant two roles.
create unique index operator_invitations_pending_email on operator_invitations (email_address) where status = 'pending';
create index operator_invitations_created on operator_invitations (created_at, id);

create table operator_invitation_instances (
  invitation_id text not null references operator_invitations (id) on delete cascade,
  instance_id text not null references instances (id) on delete cascade,
  primary key (invitation_id, instance_id)
);
