-- Instances' own allowed redirect origins, and secret keys that can be revealed again and
-- rolled with a grace period.

-- Origins this instance allows on top of FOYER_ALLOWED_REDIRECT_ORIGINS (which every
-- instance allows): exact (`https://app.example.com`) or any port (`http://localhost:*`).
alter table instances add column allowed_redirect_origins jsonb not null default '[]';

alter table secret_keys
  -- shown in the dashboard and named by its forms; never the key
  add column id text,
  -- the key's prefix and last four characters (sk_test_…AbCd), so an operator can tell keys
  -- apart; null for keys made before this migration
  add column hint text,
  -- the key sealed with AES-256-GCM under a key derived from the server secret (which is
  -- never in the database), so that the dashboard can reveal it; null when it cannot be
  add column sealed_key text,
  -- set when a key is rolled with a grace period: it stops working at this time (wall clock)
  add column expires_at bigint;

-- Existing keys get a random id: one derived from the key's hash would let anyone who reads
-- ids (logs, URLs) test guesses of a weak key chosen by hand (FOYER_SECRET_KEY).
update secret_keys set id = 'key_' || substr(md5(random()::text || key_hash), 1, 27) where id is null;
alter table secret_keys alter column id set not null;
create unique index secret_keys_id on secret_keys (id);
