-- Payment channels of stateful schemes (batch-settlement): one row each,
-- shared by every server replica. Amounts are canonical decimal strings
-- (no leading zeros); times are unix milliseconds, 0 for none. lease_holder
-- and lease_until are the channel's lease across replicas.
CREATE TABLE IF NOT EXISTS channels (
    id                    TEXT PRIMARY KEY,
    network               TEXT NOT NULL,
    config                BYTEA NOT NULL,
    charged               TEXT NOT NULL,
    signed_max            TEXT NOT NULL,
    signature             TEXT NOT NULL,
    balance               TEXT NOT NULL,
    total_claimed         TEXT NOT NULL,
    withdraw_requested_at BIGINT NOT NULL,
    refund_nonce          BIGINT NOT NULL,
    synced_at             BIGINT NOT NULL,
    last_request_at       BIGINT NOT NULL,
    lease_holder          TEXT NOT NULL DEFAULT '',
    lease_until           BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS channels_unclaimed ON channels (last_request_at) WHERE charged <> total_claimed;
