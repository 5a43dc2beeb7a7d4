-- Instances are Clerk's "application instances": every other row belongs to one.
create table instances (
  id text primary key,
  name text not null,
  -- 'development' (sk_test_ keys) or 'production' (sk_live_ keys)
  environment_type text not null,
  publishable_key text not null,
  -- the instance created at first start; FOYER_SECRET_KEY pins its key
  is_default boolean not null default false,
  sign_up_mode text not null default 'public',
  home_url text,
  after_sign_up_url text,
  -- requests per hour, keyed as in the README (PATCH /v1/instance); a missing key means Clerk's default
  rate_limits jsonb not null default '{}',
  -- moved forward only through the test clock (FOYER_TESTING=1, sk_test_ keys)
  clock_offset_ms bigint not null default 0,
  created_at bigint not null,
  updated_at bigint not null
);

create table secret_keys (
  -- sha256 of the key: the key itself is never stored
  key_hash text primary key,
  instance_id text not null references instances (id) on delete cascade,
  created_at bigint not null
);
create index secret_keys_instance on secret_keys (instance_id);

create table users (
  id text primary key,
  instance_id text not null references instances (id) on delete cascade,
  public_metadata jsonb not null default '{}',
  created_at bigint not null,
  updated_at bigint not null
);
create index users_instance_created on users (instance_id, created_at);

create table email_addresses (
  id text primary key,
  instance_id text not null references instances (id) on delete cascade,
  user_id text not null references users (id) on delete cascade,
  -- lower-cased: an address is one identity whatever its case
  email_address text not null,
  created_at bigint not null,
  unique (instance_id, email_address)
);
create index email_addresses_user on email_addresses (user_id);

create table invitations (
  id text primary key,
  instance_id text not null references instances (id) on delete cascade,
  -- lower-cased, as in email_addresses
  email_address text not null,
  public_metadata jsonb not null default '{}',
  redirect_url text,
  -- 'pending' | 'accepted' | 'revoked'; 'expired' is read from expires_at, never stored
  status text not null,
  notify boolean not null,
  template_slug text not null,
  -- the ticket is HMAC(server secret, id:nonce); re-issuing rotates the nonce
  ticket_nonce text not null,
  -- sha256 of the ticket, to find the invitation when its link is followed
  ticket_hash text not null unique,
  expires_at bigint not null,
  created_at bigint not null,
  updated_at bigint not null
);
create index invitations_instance_created on invitations (instance_id, created_at, id);
create index invitations_instance_email on invitations (instance_id, email_address);
create index invitations_instance_expires on invitations (instance_id, expires_at);
create index invitations_pending_expiry on invitations (instance_id, expires_at) where status = 'pending';

-- Sharded per-status counts, kept in the same statement as each change, so that
-- total_count stays O(1) at millions of rows without one hot row serialising writers.
create table invitation_counts (
  instance_id text not null references instances (id) on delete cascade,
  status text not null,
  shard smallint not null,
  n bigint not null,
  primary key (instance_id, status, shard)
) with (
  -- every create rewrites a row here: leave room for in-page updates, and vacuum after a
  -- fixed number of them rather than a fraction of a table this small
  fillfactor = 50,
  autovacuum_vacuum_scale_factor = 0,
  autovacuum_vacuum_threshold = 1000
);

-- Everything to be sent (emails, webhook events) is written here in the same transaction
-- as the change that causes it, and delivered after commit.
create table outbox (
  id text primary key,
  instance_id text not null references instances (id) on delete cascade,
  -- 'email' | 'webhook'
  kind text not null,
  -- event type ('invitation.created') or email template slug
  topic text not null,
  -- the object the item is about (an invitation id), so deleting it can take its traces along
  subject_id text,
  payload jsonb not null,
  status text not null default 'pending',
  attempts integer not null default 0,
  next_attempt_at bigint not null,
  last_error text,
  created_at bigint not null,
  updated_at bigint not null
);
create index outbox_due on outbox (next_attempt_at) where status = 'pending';
create index outbox_subject on outbox (subject_id);
