-- eng/migrate.sh runs this as the owner role on the read models' database, after the services' schema steps: what each
-- service's own role may do there.

-- The replay service: its sagas and Wolverine's inbox, outbox and node tables (schema replay).
grant usage on schema replay to er_replay, er_monitor;
grant select, insert, update, delete on all tables in schema replay to er_replay;
grant usage, select, update on all sequences in schema replay to er_replay;
grant execute on all functions in schema replay to er_replay;

-- The monitor: its own tables, and the replay service's dead letters (it collects them as failed messages and removes
-- them once collected) and inbox (what is still to be handled).
grant usage on schema monitor to er_monitor;
grant select, insert, update, delete on all tables in schema monitor to er_monitor;
grant usage, select on all sequences in schema monitor to er_monitor;
grant select, delete on replay.wolverine_dead_letters to er_monitor;
grant select on replay.wolverine_incoming_envelopes to er_monitor;

-- The audit trail is append-only: insert and read, no update, delete or truncate (its trigger refuses those to anyone).
grant usage on schema audit to er_replay, er_monitor;
grant select, insert on audit.entries to er_replay, er_monitor;

-- Each consumer's read model is its own: it makes and replaces its copies (a rebuild fills a fresh schema and swaps it
-- in), so it may create schemas in this database and owns them, and nothing else here. The monitor reads what they
-- make (parked events, for failed messages and the console).
do $$
declare
  consumer text;
  object record;
begin
  execute format('grant create on database %I to er_balances, er_statistics', current_database());
  foreach consumer in array array['balances', 'statistics'] loop
    execute format('alter default privileges for role %I grant usage on schemas to er_monitor', 'er_' || consumer);
    execute format('alter default privileges for role %I grant select on tables to er_monitor', 'er_' || consumer);
    -- Copies made before the consumer had a role of its own (by the owner) become the consumer's.
    for object in
      select n.nspname as schema from pg_namespace n
       where n.nspname ~ ('^' || consumer || '(_rebuild|_retired)?$')
    loop
      execute format('alter schema %I owner to %I', object.schema, 'er_' || consumer);
      execute format('grant usage on schema %I to er_monitor', object.schema);
    end loop;
    for object in
      select n.nspname as schema, c.relname as name, c.relkind as kind from pg_class c
        join pg_namespace n on n.oid = c.relnamespace
       where n.nspname ~ ('^' || consumer || '(_rebuild|_retired)?$') and c.relkind in ('r', 'p', 'S')
    loop
      execute format('alter %s %I.%I owner to %I', case object.kind when 'S' then 'sequence' else 'table' end,
        object.schema, object.name, 'er_' || consumer);
      if object.kind <> 'S' then
        execute format('grant select on %I.%I to er_monitor', object.schema, object.name);
      end if;
    end loop;
  end loop;
end
$$;
