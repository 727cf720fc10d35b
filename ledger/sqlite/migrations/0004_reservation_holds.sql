-- 0004: what a verify reads of a payer's holds, in time independent of how
-- many reservations the payer has.
--
-- reservation_holds keeps, per (network, asset, payer), the sum of the
-- amounts of the payer's rows in reservations (decimal TEXT, summed by the
-- store in Go in the transaction that inserts or deletes a row). A payer
-- with reservations but no row here (reservations made before this
-- migration) gets one, summed from the rows, on its next reservation.
-- Expired rows are deleted, and subtracted, by the next reservation of
-- the same payer (found through reservations_payer_expires) or by a purge.
CREATE TABLE reservation_holds (
    network TEXT NOT NULL,
    asset   TEXT NOT NULL,
    payer   TEXT NOT NULL,
    held    TEXT NOT NULL,
    PRIMARY KEY (network, asset, payer)
) STRICT, WITHOUT ROWID;

CREATE INDEX reservations_payer_expires ON reservations (network, asset, payer, expires_at);

-- The purge of every payer's expired reservations, which runs every
-- reconcile interval, scans the table (only verified, unsettled payments)
-- rather than have every verify write one more index.
DROP INDEX reservations_expires;

-- A payer's unfinished settlements, which hold funds too, without reading
-- every settlement the payer ever made.
CREATE INDEX settlements_unfinished ON settlements (network, asset, payer, nonce, amount)
    WHERE status IN ('settling', 'pending');
