-- 0006: payment identifiers (ledger.PaymentIDs): the payment-identifier
-- extension's ids, each bound, within its scope (network and payee), to
-- the first payment settled under it.
CREATE TABLE payment_ids (
    scope          TEXT    NOT NULL,
    id             TEXT    NOT NULL,
    settlement_key TEXT    NOT NULL,
    fingerprint    TEXT    NOT NULL,
    created_at     INTEGER NOT NULL, -- unix microseconds
    PRIMARY KEY (scope, id)
) STRICT;
