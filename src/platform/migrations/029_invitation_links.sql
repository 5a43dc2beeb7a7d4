-- Shareable invitation links (Foyer extension): one link, many people, each proving their
-- address by an emailed code before the link issues them a personal invitation.
create table invitation_links (
  id text primary key,
  instance_id text not null references instances (id) on delete cascade,
  -- null: a link into the application; else into this organization with `role`
  organization_id text references organizations (id) on delete cascade,
  role text,
  -- given to everyone who joins through the link (the user's, or the membership's for an organization)
  public_metadata jsonb not null default '{}',
  -- lower-cased domains an address must be at; empty: any
  allowed_domains jsonb not null default '[]',
  -- null: unlimited
  max_uses integer,
  use_count integer not null default 0,
  -- 'active' | 'revoked'; expiry and exhaustion are read from expires_at and use_count
  status text not null default 'active',
  -- the link's token is HMAC(server secret, id:nonce), as invitation tickets are: never stored
  token_nonce text not null,
  token_hash text not null unique,
  -- instance time; null: never expires
  expires_at bigint,
  created_at bigint not null,
  updated_at bigint not null
);
create index invitation_links_instance_created on invitation_links (instance_id, created_at, id);

-- One row per address that used a link: counted once its code was right, in the statement
-- that raised use_count. The personal invitation it got says whether (and as whom) it joined.
create table invitation_link_uses (
  id text primary key,
  link_id text not null references invitation_links (id) on delete cascade,
  instance_id text not null references instances (id) on delete cascade,
  email_address text not null,
  invitation_id text,
  -- the account that held the address when it was proven, if there was one
  user_id text,
  created_at bigint not null,
  unique (link_id, email_address)
);
create index invitation_link_uses_link_created on invitation_link_uses (link_id, created_at, id);

-- An address waiting for its code on a link's page. The code is derived (see
-- platform/secrets.ts), like a sign-up's; its emails count in the same hourly budget.
create table invitation_link_attempts (
  id text primary key,
  link_id text not null references invitation_links (id) on delete cascade,
  instance_id text not null references instances (id) on delete cascade,
  email_address text not null,
  code_nonce text not null,
  code_expires_at bigint not null,
  failed_attempts integer not null default 0,
  -- 'pending' | 'complete'
  status text not null default 'pending',
  created_at bigint not null,
  updated_at bigint not null
);
create index invitation_link_attempts_link on invitation_link_attempts (link_id, email_address);
-- Erasing a person finds their uses and attempts by address (see accept/erasure.ts).
create index invitation_link_uses_address on invitation_link_uses (instance_id, email_address);
create index invitation_link_attempts_address on invitation_link_attempts (instance_id, email_address);
