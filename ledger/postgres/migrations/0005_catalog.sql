-- 0005: the discovery catalogue (ledger.Catalog): the resources this
-- facilitator settled payments for whose servers declared them
-- discoverable (the bazaar extension), one row per resource (URL, and tool
-- name for an MCP tool), replaced by each later successful payment.
CREATE TABLE catalog (
    key          text        NOT NULL PRIMARY KEY,
    url          text        NOT NULL,
    type         text        NOT NULL,
    tool_name    text        NOT NULL,
    version      integer     NOT NULL,
    description  text        NOT NULL,
    mime_type    text        NOT NULL,
    scheme       text        NOT NULL,
    network      text        NOT NULL,
    asset        text        NOT NULL,
    pay_to       text        NOT NULL,
    amount       text        NOT NULL,
    accepts      bytea       NOT NULL,
    extensions   bytea       NOT NULL,
    updated_at   timestamptz NOT NULL
);

CREATE INDEX catalog_updated ON catalog (updated_at DESC, key);
CREATE INDEX catalog_peers ON catalog (type, network, asset);
