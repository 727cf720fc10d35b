-- Payment channels of stateful schemes (batch-settlement): one row each.
-- Amounts are canonical decimal strings (no leading zeros); times are unix
-- milliseconds, 0 for none. Leases are kept in the process (one process
-- per database file), not here.
CREATE TABLE IF NOT EXISTS channels (
    id                    TEXT PRIMARY KEY,
    network               TEXT NOT NULL,
    config                BLOB NOT NULL,
    charged               TEXT NOT NULL,
    signed_max            TEXT NOT NULL,
    signature             TEXT NOT NULL,
    balance               TEXT NOT NULL,
    total_claimed         TEXT NOT NULL,
    withdraw_requested_at INTEGER NOT NULL,
    refund_nonce          INTEGER NOT NULL,
    synced_at             INTEGER NOT NULL,
    last_request_at       INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS channels_unclaimed ON channels (last_request_at) WHERE charged <> total_claimed;
