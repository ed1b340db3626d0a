-- eng/migrate.sh runs this as the owner role on the event store's database, after the services' schema steps: what each
-- service's own role may do there. Nothing here lets a service's role create, alter or drop anything.
grant usage on schema producer to er_producer, er_balances, er_statistics, er_replay, er_monitor;

-- The producer appends events and keeps its snapshots, idempotency records and publishing checkpoint.
grant select, insert, update, delete on all tables in schema producer to er_producer;
grant usage, select, update on all sequences in schema producer to er_producer;
grant execute on all functions in schema producer to er_producer;

-- The log's readers: the replay service (batches, its safe head), the consumers (a rebuild's tail, the head, the
-- store's epoch), the monitor (the console's event flow, the publisher's checkpoint).
grant select on producer.mt_events, producer.store_epoch to er_balances, er_statistics, er_replay, er_monitor;
grant select on producer.mt_events_sequence to er_replay;
grant select on producer.publisher_checkpoint to er_monitor;

-- A consumer that finds the store's head behind its read model draws a new epoch (the store went back in time): that
-- row's columns alone. The events stay out of its reach.
grant update (epoch, since, reason) on producer.store_epoch to er_balances, er_statistics;
