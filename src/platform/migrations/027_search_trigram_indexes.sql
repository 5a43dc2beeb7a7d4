-- Substring search (`query` and the *_query parameters) matches `column like '%text%'`, which
-- no b-tree can answer: at a million invitations every search read the whole table. Trigram
-- GIN indexes answer those patterns for texts of three characters or more; shorter ones still
-- give the same results, from a scan. pg_trgm is a trusted extension: a database owner may
-- create it without superuser rights. PGlite loads it from its contrib bundle.
create extension if not exists pg_trgm;

-- Each expression is written exactly as the stores write it in their where clauses, so the
-- planner can match it; addresses, usernames and slugs are stored lower-cased.
create index invitations_email_trgm on invitations using gin (email_address gin_trgm_ops);
create index organization_invitations_email_trgm on organization_invitations using gin (email_address gin_trgm_ops);
create index email_addresses_email_trgm on email_addresses using gin (email_address gin_trgm_ops);
create index users_username_trgm on users using gin (username gin_trgm_ops);
-- concat_ws is only stable, which an index may not use; this is the same text from immutable
-- parts (users.store.ts, FULL_NAME).
create index users_full_name_trgm on users using gin ((lower(coalesce(first_name || ' ' || last_name, first_name, last_name, ''))) gin_trgm_ops);
create index organizations_name_trgm on organizations using gin (lower(name) gin_trgm_ops);
create index organizations_slug_trgm on organizations using gin (slug gin_trgm_ops);
