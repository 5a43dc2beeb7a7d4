-- Sign-in tokens (Clerk's SignInToken): only the token's hash is kept, so a copy of the
-- database signs no one in. Deleting the user deletes their tokens.
create table sign_in_tokens (
  id text primary key,
  instance_id text not null references instances (id) on delete cascade,
  user_id text not null references users (id) on delete cascade,
  token_hash text not null unique,
  status text not null check (status in ('pending', 'accepted', 'revoked')),
  expires_at bigint not null,
  created_at bigint not null,
  updated_at bigint not null
);
create index sign_in_tokens_instance_user on sign_in_tokens (instance_id, user_id);
