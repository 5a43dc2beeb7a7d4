-- The development mailbox: with no SMTP_URL, emails are kept here and shown at /dev/mailbox.
create table dev_mailbox_messages (
  -- the outbox item's id: a redelivered item lands on the same row instead of a second copy
  id text primary key,
  instance_id text not null references instances (id) on delete cascade,
  -- the invitation the message is about, so deleting it can take the message along
  subject_id text,
  template_slug text not null,
  to_address text not null,
  subject text not null,
  html text not null,
  text text not null,
  created_at bigint not null
);
create index dev_mailbox_messages_created on dev_mailbox_messages (created_at, id);
create index dev_mailbox_messages_subject on dev_mailbox_messages (subject_id);

-- Per-instance replacements of the built-in templates; a null part falls back to the built-in one.
create table email_templates (
  instance_id text not null references instances (id) on delete cascade,
  -- 'invitation' | 'waitlist_invitation' | 'organization_invitation'
  slug text not null,
  subject text,
  html text,
  text text,
  created_at bigint not null,
  updated_at bigint not null,
  primary key (instance_id, slug)
);

