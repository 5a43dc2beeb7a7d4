-- Erasure finds a person's old audit records by their address. A b-tree on the address takes
-- each new record's entry at a random place in the index: at a year of records, nearly every
-- create dirtied a page no other had, and after each checkpoint wrote it whole to the WAL.
-- A GIN index with fastupdate appends new entries to its pending list and sorts them into the
-- index in bulk (when the list fills, or when vacuum or analyze passes); erasure, rare and
-- looking up a handful of addresses, reads the pending list besides.
drop index audit_logs_instance_label;
create index audit_logs_label on audit_logs using gin ((array[lower(target_label)])) with (fastupdate = on)
  where target_label is not null;
