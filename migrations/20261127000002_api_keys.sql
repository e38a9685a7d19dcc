-- API keys: only a salted hash of each key is stored (see cuulong_core::access).
CREATE TABLE cuulong.api_keys (
    name       text PRIMARY KEY,
    agency     text NOT NULL,
    grants     text[] NOT NULL DEFAULT '{}',
    prefix     text NOT NULL,
    salt       text NOT NULL,
    hash       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    revoked_at timestamptz
);
CREATE INDEX api_keys_prefix_idx ON cuulong.api_keys (prefix);
