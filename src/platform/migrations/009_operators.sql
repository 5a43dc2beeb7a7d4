-- Operators run the dashboard. They are not users of any instance: an instance's end users
-- can never sign in to the dashboard, and an operator sees every instance.
create table operators (
  id text primary key,
  -- lower-cased, as in email_addresses
  email_address text not null unique,
  -- scrypt, in the format of src/users/passwords.ts
  password_hash text not null,
  created_at bigint not null,
  updated_at bigint not null
);

create table operator_sessions (
  -- sha256 of the cookie's token: a copy of this table signs nobody in
  token_hash text primary key,
  operator_id text not null references operators (id) on delete cascade,
  created_at bigint not null,
  -- absolute: a session is not extended by use
  expires_at bigint not null
);
create index operator_sessions_operator on operator_sessions (operator_id);
create index operator_sessions_expires on operator_sessions (expires_at);

-- Links printed at start while no operator exists; any one of them creates the first operator.
create table operator_setup_tokens (
  -- sha256 of the token: the token itself is only ever printed
  token_hash text primary key,
  created_at bigint not null,
  expires_at bigint not null,
  -- set by the one setup that consumed it
  used_at bigint
);
