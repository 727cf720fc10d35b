-- 0004: what a verify reads of a payer's holds, in time independent of how
-- many reservations the payer has.
--
-- reservation_holds keeps, per (network, asset, payer), the sum of the
-- amounts of the payer's rows in reservations, updated by the statements
-- that insert or delete a row. Expired rows are deleted, and subtracted,
-- by the next reservation of the same payer (found through
-- reservations_payer_expires) or by a purge. Every facilitator sharing the
-- database must run a build that knows this table: an older one would
-- insert reservations without counting them here.
CREATE TABLE reservation_holds (
    network text    NOT NULL,
    asset   text    NOT NULL,
    payer   text    NOT NULL,
    held    numeric NOT NULL,
    PRIMARY KEY (network, asset, payer)
);

INSERT INTO reservation_holds (network, asset, payer, held)
SELECT network, asset, payer, SUM(CASE WHEN amount ~ '^[0-9]+$' THEN amount::numeric ELSE 0 END)
FROM reservations GROUP BY network, asset, payer;

CREATE INDEX reservations_payer_expires ON reservations (network, asset, payer, expires_at);

-- The purge of every payer's expired reservations, which runs every
-- reconcile interval, scans the table (only verified, unsettled payments)
-- rather than have every verify write one more index.
DROP INDEX reservations_expires;

-- A payer's unfinished settlements, which hold funds too, without reading
-- every settlement the payer ever made.
CREATE INDEX settlements_unfinished ON settlements (network, asset, payer, nonce, amount)
    WHERE status IN ('settling', 'pending');
