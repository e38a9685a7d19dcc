-- Observations (SensorThings API): the network's catalogue as one document (stations,
-- properties, datastreams with ids that never change), and the readings in a table partitioned
-- by month of phenomenon time. The primary key (datastream, phenomenon time) is the idempotency
-- key of every ingest path and the index of every per-datastream time query.
CREATE TABLE cuulong.sta_catalog (
    id         integer PRIMARY KEY CHECK (id = 1),
    body       jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE cuulong.observations (
    datastream_id   integer NOT NULL,
    phenomenon_time timestamptz NOT NULL,
    result          double precision NOT NULL,
    quality         smallint NOT NULL DEFAULT 0,
    PRIMARY KEY (datastream_id, phenomenon_time)
) PARTITION BY RANGE (phenomenon_time);

-- Creates the monthly partitions (UTC months) the given month starts fall in, once each; an
-- advisory lock per month orders concurrent writers.
CREATE FUNCTION cuulong.ensure_observation_partitions(months timestamptz[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    m timestamptz;
    part text;
BEGIN
    FOREACH m IN ARRAY months LOOP
        part := 'observations_' || to_char(m AT TIME ZONE 'UTC', 'YYYY_MM');
        IF to_regclass('cuulong.' || part) IS NULL THEN
            PERFORM pg_advisory_xact_lock(hashtext('cuulong.' || part));
            EXECUTE format(
                'CREATE TABLE IF NOT EXISTS cuulong.%I PARTITION OF cuulong.observations '
                'FOR VALUES FROM (%L) TO (%L)',
                part, m, (m AT TIME ZONE 'UTC' + interval '1 month') AT TIME ZONE 'UTC');
        END IF;
    END LOOP;
END
$$;

-- API keys gain scopes: `observations:write` (every datastream the key may see) or
-- `observations:write:<datastream id>`.
ALTER TABLE cuulong.api_keys ADD COLUMN scopes text[] NOT NULL DEFAULT '{}';

-- Counts batch imports of observations (`cuulong observations import`): servers reload the
-- series when it changes.
CREATE TABLE cuulong.observation_imports (
    id      integer PRIMARY KEY CHECK (id = 1),
    imports bigint NOT NULL
);
