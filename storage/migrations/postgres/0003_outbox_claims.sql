-- ../0003_outbox_claims.sql: rows claimed ('sending') before their send, 'in_doubt' after a
-- crash, and the batch (broadcast or reminder) a row belongs to.

ALTER TABLE outbox ADD COLUMN batch TEXT NOT NULL DEFAULT '';

ALTER TABLE outbox ADD COLUMN claimed_at TEXT;

ALTER TABLE outbox DROP CONSTRAINT outbox_status_check;

ALTER TABLE outbox ADD CONSTRAINT outbox_status_check
    CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'unreachable', 'in_doubt'));

CREATE INDEX outbox_batch ON outbox(batch, status);
