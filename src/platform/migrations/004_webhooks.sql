-- Where events are sent: any number of endpoints per instance, managed through the API,
-- and at most one configured by FOYER_WEBHOOK_URL (from_config), which start-up updates.
create table webhook_endpoints (
  id text primary key,
  instance_id text not null references instances (id) on delete cascade,
  url text not null,
  -- whsec_ + base64 of the signing key; kept readable because signing needs it
  secret text not null,
  -- the event types sent here; empty means every type
  event_types text[] not null default '{}',
  enabled boolean not null default true,
  from_config boolean not null default false,
  created_at bigint not null,
  updated_at bigint not null
);
create index webhook_endpoints_instance on webhook_endpoints (instance_id, created_at, id);
create unique index webhook_endpoints_config on webhook_endpoints (instance_id) where from_config;

-- One event for one endpoint. Its status, attempt count and schedule live on the
-- 'webhook_delivery' outbox item of the same id, which the worker retries.
create table webhook_deliveries (
  id text primary key references outbox (id) on delete cascade,
  instance_id text not null references instances (id) on delete cascade,
  endpoint_id text not null references webhook_endpoints (id) on delete cascade,
  -- the event's own outbox id, sent as svix-id so receivers can deduplicate
  event_id text not null,
  event_type text not null,
  created_at bigint not null,
  -- insertion order: the log reads newest first even within one millisecond (ids are random there)
  seq bigint generated always as identity,
  -- a fan-out that runs twice (its lease ran out) queues nothing twice
  unique (event_id, endpoint_id)
);
create index webhook_deliveries_endpoint on webhook_deliveries (endpoint_id, seq);

-- Every HTTP attempt of a delivery, successful or not.
create table webhook_attempts (
  id bigint generated always as identity primary key,
  delivery_id text not null references webhook_deliveries (id) on delete cascade,
  -- null when no HTTP answer came (refused, timed out)
  status_code integer,
  error text,
  duration_ms integer not null,
  attempted_at bigint not null
);
create index webhook_attempts_delivery on webhook_attempts (delivery_id, id);
