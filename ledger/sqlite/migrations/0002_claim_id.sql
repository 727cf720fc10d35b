-- 0002: the claim id of a settlement.
--
-- A random id chosen by the claimant, so that a facilitator whose claim
-- failed ambiguously (committed, but the answer was lost) recognises its
-- own row when it tries again. Rows claimed before this migration have ''.
ALTER TABLE settlements ADD COLUMN claim_id TEXT NOT NULL DEFAULT '';
