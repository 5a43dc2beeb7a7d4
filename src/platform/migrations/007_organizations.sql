-- Organizations: their members, the roles members hold, invitations into them, and the
-- email domains that let people find them.

create table organizations (
  id text primary key,
  instance_id text not null references instances (id) on delete cascade,
  name text not null,
  -- unique within the instance, lower-case letters, digits and dashes
  slug text not null,
  -- members plus pending invitations may not exceed it; 0 means no limit (Clerk's meaning)
  max_allowed_memberships integer not null default 0,
  admin_delete_enabled boolean not null default true,
  public_metadata jsonb not null default '{}',
  private_metadata jsonb not null default '{}',
  -- the user who created it, when one did (Clerk keeps the id after that user is deleted)
  created_by text,
  created_at bigint not null,
  updated_at bigint not null,
  unique (instance_id, slug)
);
create index organizations_instance_created on organizations (instance_id, created_at, id);

-- Permissions are `org:<feature>:<action>`. 'system' ones (`org:sys_…`) exist in every
-- instance and guard Foyer's own rules; 'user' ones are the application's to define.
create table organization_permissions (
  id text primary key,
  instance_id text not null references instances (id) on delete cascade,
  key text not null,
  name text not null,
  description text not null default '',
  -- 'system' | 'user'
  type text not null,
  created_at bigint not null,
  updated_at bigint not null,
  unique (instance_id, key)
);

create table organization_roles (
  id text primary key,
  instance_id text not null references instances (id) on delete cascade,
  -- `org:admin`, `org:member`, or the application's own `org:<name>`
  key text not null,
  name text not null,
  description text,
  -- permission keys, in the order they were granted
  permissions text[] not null default '{}',
  is_creator_eligible boolean not null default false,
  created_at bigint not null,
  updated_at bigint not null,
  unique (instance_id, key)
);

create table organization_memberships (
  id text primary key,
  instance_id text not null references instances (id) on delete cascade,
  organization_id text not null references organizations (id) on delete cascade,
  user_id text not null references users (id) on delete cascade,
  -- a role key; roles in use cannot be deleted
  role text not null,
  public_metadata jsonb not null default '{}',
  private_metadata jsonb not null default '{}',
  created_at bigint not null,
  updated_at bigint not null,
  unique (organization_id, user_id)
);
create index organization_memberships_org_created on organization_memberships (organization_id, created_at, id);
create index organization_memberships_user on organization_memberships (user_id, created_at);

create table organization_invitations (
  id text primary key,
  instance_id text not null references instances (id) on delete cascade,
  organization_id text not null references organizations (id) on delete cascade,
  -- lower-cased, as in email_addresses
  email_address text not null,
  role text not null,
  -- who invited, when someone did; kept after that user is deleted, as Clerk keeps inviter_id
  inviter_user_id text,
  public_metadata jsonb not null default '{}',
  private_metadata jsonb not null default '{}',
  redirect_url text,
  -- 'pending' | 'accepted' | 'revoked' | 'declined' | 'expired'. A pending invitation past
  -- expires_at reads as expired; 'expired' is stored only when a new invitation to the same
  -- address replaces it, so the one-pending index below holds.
  status text not null,
  -- 'manual' (someone invited) | 'domain' (a verified domain's automatic invitation)
  source text not null default 'manual',
  notify boolean not null default true,
  -- as for application invitations: the ticket is HMAC(server secret, id:nonce)
  ticket_nonce text not null,
  ticket_hash text not null unique,
  expires_at bigint not null,
  accepted_by_user_id text,
  created_at bigint not null,
  updated_at bigint not null
);
create index organization_invitations_org_created on organization_invitations (organization_id, created_at, id);
create index organization_invitations_instance_created on organization_invitations (instance_id, created_at, id);
create index organization_invitations_instance_email on organization_invitations (instance_id, email_address);
-- One pending invitation per address per organization, whatever races.
create unique index organization_invitations_one_pending on organization_invitations (organization_id, email_address) where status = 'pending';

create table organization_domains (
  id text primary key,
  instance_id text not null references instances (id) on delete cascade,
  organization_id text not null references organizations (id) on delete cascade,
  -- lower-case host name, without a leading @
  name text not null,
  -- 'manual_invitation' | 'automatic_invitation' | 'automatic_suggestion'
  enrollment_mode text not null,
  -- ownership: null while unverified; the strategy that proved it ('admin', 'email_code', 'manual_override')
  verified_at bigint,
  verification_strategy text,
  -- the address at the domain that the ownership code was sent to
  affiliation_email_address text,
  -- the code is HMAC(server secret, id:nonce), never stored; a new code rotates the nonce
  code_nonce text,
  code_expires_at bigint,
  code_attempts integer not null default 0,
  created_at bigint not null,
  updated_at bigint not null,
  unique (organization_id, name)
);
create index organization_domains_instance_name on organization_domains (instance_id, name);
-- A verified domain enrols people into one organization only: whoever proves it first holds it.
create unique index organization_domains_verified_name on organization_domains (instance_id, name) where verified_at is not null;

-- A verified domain in automatic_suggestion mode suggests its organization to people with an
-- address there; they may ask to join (accept) or dismiss it.
create table organization_suggestions (
  id text primary key,
  instance_id text not null references instances (id) on delete cascade,
  organization_id text not null references organizations (id) on delete cascade,
  user_id text not null references users (id) on delete cascade,
  domain_id text references organization_domains (id) on delete set null,
  email_address text not null,
  -- 'pending' | 'accepted' | 'dismissed'
  status text not null default 'pending',
  created_at bigint not null,
  updated_at bigint not null,
  unique (organization_id, user_id)
);
create index organization_suggestions_user on organization_suggestions (user_id, created_at);

-- Every instance has the system permissions and the two default roles from its creation on,
-- whatever code path creates it. Ids are derived from the instance's id and the key, like
-- Clerk's fixed ids for its defaults.
create function seed_organization_defaults(p_instance_id text, p_now bigint) returns void language plpgsql as $$
begin
  insert into organization_permissions (id, instance_id, key, name, description, type, created_at, updated_at)
  select 'perm_' || substr(md5(p_instance_id || ':' || p.key), 1, 27), p_instance_id, p.key, p.name, p.description, 'system', p_now, p_now
  from (values
    ('org:sys_profile:manage', 'Manage organization', 'Change the organization''s name, slug and metadata.'),
    ('org:sys_profile:delete', 'Delete organization', 'Delete the organization.'),
    ('org:sys_memberships:read', 'Read members', 'See the organization''s members.'),
    ('org:sys_memberships:manage', 'Manage members', 'Invite, remove and change the role of members, and revoke invitations.'),
    ('org:sys_domains:read', 'Read domains', 'See the organization''s verified domains.'),
    ('org:sys_domains:manage', 'Manage domains', 'Add, verify and remove the organization''s domains.')
  ) as p(key, name, description)
  on conflict (instance_id, key) do nothing;

  insert into organization_roles (id, instance_id, key, name, description, permissions, is_creator_eligible, created_at, updated_at)
  select 'role_' || substr(md5(p_instance_id || ':' || r.key), 1, 27), p_instance_id, r.key, r.name, r.description, r.permissions, r.creator, p_now, p_now
  from (values
    ('org:admin', 'Admin', 'Can manage the organization, its members, invitations and domains.',
     array['org:sys_profile:manage', 'org:sys_profile:delete', 'org:sys_memberships:read', 'org:sys_memberships:manage',
           'org:sys_domains:read', 'org:sys_domains:manage'], true),
    ('org:member', 'Member', 'Can see the organization and its members.',
     array['org:sys_memberships:read', 'org:sys_domains:read'], false)
  ) as r(key, name, description, permissions, creator)
  on conflict (instance_id, key) do nothing;
end
$$;

create function seed_organization_roles() returns trigger language plpgsql as $$
begin
  perform seed_organization_defaults(new.id, new.created_at);
  return new;
end
$$;

create trigger instances_seed_organization_roles after insert on instances
  for each row execute function seed_organization_roles();

-- Instances created before this migration get them too.
select seed_organization_defaults(id, created_at) from instances;
