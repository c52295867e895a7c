-- The outbox learns to say what it does not know: a row is claimed ('sending') before its
-- send and marked after; a row still 'sending' after a crash becomes 'in_doubt' and is not
-- sent again by itself. 'batch' names the broadcast or reminder a row belongs to.

CREATE TABLE outbox_new (
    id              INTEGER PRIMARY KEY,
    participant_id  INTEGER NOT NULL REFERENCES participants(id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    batch           TEXT NOT NULL DEFAULT '',
    dedupe_key      TEXT NOT NULL UNIQUE,
    message         TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'unreachable',
                                      'in_doubt')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    claimed_at      TEXT,
    sent_at         TEXT,
    last_error      TEXT
);

INSERT INTO outbox_new (id, participant_id, kind, dedupe_key, message, status, attempts,
    next_attempt_at, created_at, sent_at, last_error)
SELECT id, participant_id, kind, dedupe_key, message, status, attempts, next_attempt_at,
    created_at, sent_at, last_error FROM outbox;

DROP TABLE outbox;

ALTER TABLE outbox_new RENAME TO outbox;

CREATE INDEX outbox_due ON outbox(status, next_attempt_at);

CREATE INDEX outbox_batch ON outbox(batch, status);
