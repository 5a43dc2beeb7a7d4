-- Each instance's RSA keys for signing session tokens (RS256), published in its JWKS.
create table signing_keys (
  -- the JWK `kid` that tokens name in their header
  id text primary key,
  instance_id text not null references instances (id) on delete cascade,
  -- the PKCS#8 private key sealed with AES-256-GCM under a key derived from the server secret
  -- (never in the database), bound to this instance and key id: a database copy signs nothing
  sealed_private_key text not null,
  -- the public key as an SPKI PEM, for `jwtKey` / CLERK_JWT_KEY
  public_key_pem text not null,
  -- the RSA modulus and public exponent, base64url, as the JWKS publishes them
  n text not null,
  e text not null,
  created_at bigint not null,
  -- when a rotation replaced this key (server clock): it signs no more, and stays in the JWKS
  -- only until every token it signed has expired; null for the instance's current key
  retired_at bigint
);

-- At most one current key per instance: processes that create one at once agree on it.
create unique index signing_keys_current on signing_keys (instance_id) where retired_at is null;
create index signing_keys_instance on signing_keys (instance_id, created_at);
