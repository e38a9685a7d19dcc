-- Who read which non-open layer, when, through which endpoint (written by cuulong serve).
CREATE TABLE cuulong.audit_log (
    id       bigserial PRIMARY KEY,
    at       timestamptz NOT NULL,
    key_name text NOT NULL,
    agency   text NOT NULL,
    layer_id text NOT NULL,
    access   text NOT NULL,
    endpoint text NOT NULL
);
CREATE INDEX audit_log_at_idx ON cuulong.audit_log (at);
