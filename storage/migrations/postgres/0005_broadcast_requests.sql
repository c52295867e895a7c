-- As ../0005_broadcast_requests.sql, with a BIGINT participant id.
-- Who asked for a broadcast from the chat, so that they get one summary when it is done,
-- and the campaign the running bot uses, so that `participation-bot reload` can say what an
-- edited file changes.

CREATE TABLE broadcast_requests (
    batch             TEXT NOT NULL,
    participant_id    BIGINT NOT NULL REFERENCES participants(id) ON DELETE CASCADE,
    language          TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    summary_queued_at TEXT,
    PRIMARY KEY (batch, participant_id)
);

CREATE INDEX broadcast_requests_open ON broadcast_requests(summary_queued_at);

CREATE TABLE campaign_in_use (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    campaign    TEXT NOT NULL,
    loaded_at   TEXT NOT NULL
);
