-- 0003: reservations, the funds held by verified but unsettled payments.
--
-- One row per verified authorization, keyed like its settlement. A verify
-- succeeds only if the payer's balance, less the unexpired reservations of
-- the same (network, asset, payer), covers the amount; a row is deleted
-- when its settlement ends (final or released), and stops counting at
-- expires_at (when the authorization stops being valid). Amounts are
-- decimal TEXT, summed by the store in Go.
CREATE TABLE reservations (
    network    TEXT    NOT NULL,
    asset      TEXT    NOT NULL,
    payer      TEXT    NOT NULL,
    nonce      TEXT    NOT NULL,
    amount     TEXT    NOT NULL,
    balance    TEXT    NOT NULL DEFAULT '',
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (network, asset, payer, nonce)
) STRICT, WITHOUT ROWID;

-- Purging the expired ones.
CREATE INDEX reservations_expires ON reservations (expires_at);
