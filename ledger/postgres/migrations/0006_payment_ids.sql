-- 0006: payment identifiers (ledger.PaymentIDs): the payment-identifier
-- extension's ids, each bound, within its scope (network and payee), to
-- the first payment settled under it.
CREATE TABLE payment_ids (
    scope          text        NOT NULL,
    id             text        NOT NULL,
    settlement_key text        NOT NULL,
    fingerprint    text        NOT NULL,
    created_at     timestamptz NOT NULL,
    PRIMARY KEY (scope, id)
);
