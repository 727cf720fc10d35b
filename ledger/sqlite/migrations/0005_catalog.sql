-- 0005: the discovery catalogue (ledger.Catalog): the resources this
-- facilitator settled payments for whose servers declared them
-- discoverable (the bazaar extension), one row per resource (URL, and tool
-- name for an MCP tool), replaced by each later successful payment.
CREATE TABLE catalog (
    key          TEXT    NOT NULL PRIMARY KEY,
    url          TEXT    NOT NULL,
    type         TEXT    NOT NULL,
    tool_name    TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    description  TEXT    NOT NULL,
    mime_type    TEXT    NOT NULL,
    scheme       TEXT    NOT NULL,
    network      TEXT    NOT NULL,
    asset        TEXT    NOT NULL,
    pay_to       TEXT    NOT NULL,
    amount       TEXT    NOT NULL,
    accepts      BLOB    NOT NULL,
    extensions   BLOB    NOT NULL,
    updated_at   INTEGER NOT NULL -- unix microseconds
) STRICT;

CREATE INDEX catalog_updated ON catalog (updated_at DESC, key);
CREATE INDEX catalog_peers ON catalog (type, network, asset);
