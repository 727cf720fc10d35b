-- 0001: the settlement table and the event log.
--
-- Times are INTEGER microseconds since the Unix epoch (UTC), so that they
-- sort and compare as numbers; read them with
-- datetime(created_at / 1000000, 'unixepoch'). Amounts are decimal strings
-- of up to 78 digits (uint256) and are kept as TEXT, never as numbers.
-- STRICT makes SQLite refuse values of the wrong type instead of coercing.

-- One row per authorization. The primary key is what makes a settlement
-- happen at most once: a second claim of the same key cannot insert.
CREATE TABLE settlements (
    network     TEXT    NOT NULL,
    asset       TEXT    NOT NULL,
    payer       TEXT    NOT NULL,
    nonce       TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL DEFAULT '',
    status      TEXT    NOT NULL
                CHECK (status IN ('settling', 'pending', 'settled', 'failed')),
    tx_hash     TEXT    NOT NULL DEFAULT '',
    response    TEXT    CHECK (response IS NULL OR json_valid(response)),
    request     BLOB,
    scheme      TEXT    NOT NULL DEFAULT '',
    version     INTEGER NOT NULL DEFAULT 0,
    pay_to      TEXT    NOT NULL DEFAULT '',
    amount      TEXT    NOT NULL DEFAULT '',
    resource    TEXT    NOT NULL DEFAULT '',
    owner       TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (network, asset, payer, nonce)
) STRICT, WITHOUT ROWID;

-- Unfinished settlements (settling, pending), oldest first.
CREATE INDEX settlements_status_created ON settlements (status, created_at);

-- The append-only log of verify and settle answers. AUTOINCREMENT: an id is
-- never reused, even after the newest rows are deleted.
CREATE TABLE events (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    time     INTEGER NOT NULL,
    kind     TEXT    NOT NULL,
    version  INTEGER NOT NULL DEFAULT 0,
    scheme   TEXT    NOT NULL DEFAULT '',
    network  TEXT    NOT NULL DEFAULT '',
    asset    TEXT    NOT NULL DEFAULT '',
    payer    TEXT    NOT NULL DEFAULT '',
    pay_to   TEXT    NOT NULL DEFAULT '',
    amount   TEXT    NOT NULL DEFAULT '',
    resource TEXT    NOT NULL DEFAULT '',
    tx_hash  TEXT    NOT NULL DEFAULT '',
    status   TEXT    NOT NULL DEFAULT '',
    reason   TEXT    NOT NULL DEFAULT '',
    message  TEXT    NOT NULL DEFAULT ''
) STRICT;

-- Newest first, overall and per payer or kind.
CREATE INDEX events_time ON events (time, id);
CREATE INDEX events_payer_time ON events (payer, time, id);
CREATE INDEX events_kind_time ON events (kind, time, id);
