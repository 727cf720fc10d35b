-- 0001: the settlement table and the event log.
--
-- Objects are created unqualified, in the first schema of search_path.
-- Amounts are decimal strings of up to 78 digits (uint256) and are kept as
-- text, never as numbers.

-- One row per authorization. The primary key is what makes a settlement
-- happen at most once, across every process sharing the database: a second
-- claim of the same key cannot insert.
CREATE TABLE settlements (
    network     text        NOT NULL,
    asset       text        NOT NULL,
    payer       text        NOT NULL,
    nonce       text        NOT NULL,
    fingerprint text        NOT NULL DEFAULT '',
    status      text        NOT NULL
                CHECK (status IN ('settling', 'pending', 'settled', 'failed')),
    tx_hash     text        NOT NULL DEFAULT '',
    -- json, not jsonb: the response is given back byte for byte (jsonb
    -- would reorder the keys of its extensions).
    response    json,
    request     bytea,
    scheme      text        NOT NULL DEFAULT '',
    version     integer     NOT NULL DEFAULT 0,
    pay_to      text        NOT NULL DEFAULT '',
    amount      text        NOT NULL DEFAULT '',
    resource    text        NOT NULL DEFAULT '',
    owner       text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT statement_timestamp(),
    updated_at  timestamptz NOT NULL DEFAULT statement_timestamp(),
    PRIMARY KEY (network, asset, payer, nonce)
);

-- Unfinished settlements (settling, pending), oldest first.
CREATE INDEX settlements_status_created ON settlements (status, created_at);

-- The append-only log of verify and settle answers.
CREATE TABLE events (
    id       bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    "time"   timestamptz NOT NULL,
    kind     text        NOT NULL,
    version  integer     NOT NULL DEFAULT 0,
    scheme   text        NOT NULL DEFAULT '',
    network  text        NOT NULL DEFAULT '',
    asset    text        NOT NULL DEFAULT '',
    payer    text        NOT NULL DEFAULT '',
    pay_to   text        NOT NULL DEFAULT '',
    amount   text        NOT NULL DEFAULT '',
    resource text        NOT NULL DEFAULT '',
    tx_hash  text        NOT NULL DEFAULT '',
    status   text        NOT NULL DEFAULT '',
    reason   text        NOT NULL DEFAULT '',
    message  text        NOT NULL DEFAULT ''
);

-- Newest first, overall and per payer or kind.
CREATE INDEX events_time ON events ("time", id);
CREATE INDEX events_payer_time ON events (payer, "time", id);
CREATE INDEX events_kind_time ON events (kind, "time", id);
