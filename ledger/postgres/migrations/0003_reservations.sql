-- 0003: reservations, the funds held by verified but unsettled payments.
--
-- One row per verified authorization, keyed like its settlement. A verify
-- succeeds only if the payer's balance, less the unexpired reservations of
-- the same (network, asset, payer), covers the amount; a row is deleted
-- when its settlement ends (final or released), and stops counting at
-- expires_at (when the authorization stops being valid). The check and the
-- insert run in one transaction holding a per-payer advisory lock, so that
-- concurrent verifies on several facilitator processes are serialised per
-- payer. Amounts are decimal text, summed by the store in Go.
CREATE TABLE reservations (
    network    text        NOT NULL,
    asset      text        NOT NULL,
    payer      text        NOT NULL,
    nonce      text        NOT NULL,
    amount     text        NOT NULL,
    balance    text        NOT NULL DEFAULT '',
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT statement_timestamp(),
    PRIMARY KEY (network, asset, payer, nonce)
);

-- Purging the expired ones.
CREATE INDEX reservations_expires ON reservations (expires_at);
