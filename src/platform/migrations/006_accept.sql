-- Accepting invitations: users who can sign in, their sessions, sign-ups waiting for an
-- emailed code, and the waitlist.

alter table users
  add column first_name text,
  add column last_name text,
  -- scrypt, self-describing (see users/passwords.ts); null for a user created without one
  add column password_hash text,
  add column private_metadata jsonb not null default '{}',
  add column unsafe_metadata jsonb not null default '{}',
  add column primary_email_address_id text,
  add column last_sign_in_at bigint;

alter table email_addresses
  -- 'ticket' (an invitation proved it), 'email_code' (a code sent there was typed back),
  -- 'admin' (created through the Backend API as verified); null while unverified
  add column verification_strategy text,
  add column verified_at bigint;

-- The user an invitation's acceptance created or signed in, for the acceptance's own record.
alter table invitations add column accepted_by_user_id text;

-- Server-side sessions of the hosted pages and the Frontend API. The cookie carries a random
-- token; only its hash is kept, so a database dump signs no one in.
create table sessions (
  id text primary key,
  instance_id text not null references instances (id) on delete cascade,
  user_id text not null references users (id) on delete cascade,
  token_hash text not null unique,
  -- 'active' | 'ended'
  status text not null default 'active',
  expires_at bigint not null,
  last_active_at bigint not null,
  created_at bigint not null,
  updated_at bigint not null
);
create index sessions_user on sessions (user_id);

-- A sign-up without a ticket waits here until the code emailed to its address is typed back.
create table sign_up_attempts (
  id text primary key,
  instance_id text not null references instances (id) on delete cascade,
  email_address text not null,
  password_hash text not null,
  first_name text,
  last_name text,
  -- what the sign-up asked to keep on the user (Clerk's unsafe_metadata)
  unsafe_metadata jsonb not null default '{}',
  -- the 6-digit code is HMAC(server secret, id:nonce), like a ticket: derived for the email
  -- and for checking, never stored; sending a new code rotates the nonce
  code_nonce text not null,
  code_expires_at bigint not null,
  -- wrong codes typed; the attempt is dead after a few
  failed_attempts integer not null default 0,
  -- 'pending' | 'complete' | 'abandoned'
  status text not null default 'pending',
  created_user_id text,
  created_at bigint not null,
  updated_at bigint not null
);
create index sign_up_attempts_instance_email on sign_up_attempts (instance_id, email_address);

-- People who asked to join an instance in waitlist mode.
create table waitlist_entries (
  id text primary key,
  instance_id text not null references instances (id) on delete cascade,
  email_address text not null,
  -- 'pending' | 'invited' | 'completed' | 'rejected'
  status text not null default 'pending',
  invitation_id text,
  created_at bigint not null,
  updated_at bigint not null,
  unique (instance_id, email_address)
);
create index waitlist_entries_instance_created on waitlist_entries (instance_id, created_at, id);
