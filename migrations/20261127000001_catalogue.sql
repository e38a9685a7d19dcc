-- cuulong catalogue, import history and the schema that holds one table per layer version.
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE SCHEMA IF NOT EXISTS cuulong;
CREATE SCHEMA IF NOT EXISTS cuulong_data;

CREATE TABLE cuulong.layers (
    id            text PRIMARY KEY CHECK (id ~ '^[a-z][a-z0-9_]{0,47}$'),
    title_vi      text NOT NULL,
    title_en      text NOT NULL,
    family        text,
    geometry_type text NOT NULL,
    access        text NOT NULL DEFAULT 'open' CHECK (access IN ('open', 'shared', 'restricted')),
    owner         text,
    licence       text,
    lineage       text,
    version       bigint NOT NULL CHECK (version > 0),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    bbox          double precision[] CHECK (bbox IS NULL OR cardinality(bbox) = 4),
    feature_count bigint NOT NULL,
    schema        jsonb NOT NULL,
    -- the table in cuulong_data that holds this version's features
    table_name    text NOT NULL
);

CREATE TABLE cuulong.imports (
    id             bigserial PRIMARY KEY,
    layer_id       text NOT NULL,
    version        bigint NOT NULL,
    file           text NOT NULL,
    sha256         text NOT NULL,
    src_crs        text NOT NULL,
    transformation text NOT NULL,
    read           bigint NOT NULL,
    imported       bigint NOT NULL,
    repaired       bigint NOT NULL,
    rejected       bigint NOT NULL,
    duration_ms    bigint NOT NULL,
    finished_at    timestamptz NOT NULL,
    warnings       jsonb NOT NULL DEFAULT '[]'
);
CREATE INDEX imports_layer_idx ON cuulong.imports (layer_id, id);
