-- A worker claims due items for a lease; a claim whose lease ran out (its process died)
-- is due again, so nothing claimed is ever lost.
alter table outbox add column claimed_until bigint;
-- when the item was delivered, and what the far side answered (an SMTP message id, an HTTP status)
alter table outbox add column delivered_at bigint;
alter table outbox add column result jsonb;
create index outbox_leases on outbox (claimed_until) where status = 'sending';
