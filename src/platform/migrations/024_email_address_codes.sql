-- A signed-in person adds an address and proves it by an emailed code, as a sign-up does.
alter table email_addresses
  -- the current code is derived from it (see platform/secrets.ts); null once used or never sent
  add column code_nonce text,
  -- instance time; kept after verification for the verification object's expire_at
  add column code_expires_at bigint,
  -- wrong codes typed against the current code
  add column code_failed_attempts int not null default 0;

-- Those code emails count in the inbox's hourly budget together with sign-ups' (one budget
-- per inbox, whichever flow sends): the row names a sign-up attempt or an email address.
-- Rows still go with their instance; deleting an address must not refund its budget.
alter table sign_up_code_emails drop constraint sign_up_code_emails_attempt_id_fkey;
