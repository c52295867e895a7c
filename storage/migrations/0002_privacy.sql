-- Privacy: who accepted which notice when, and events that outlive the person they erased.

ALTER TABLE participants ADD COLUMN privacy_version TEXT;

ALTER TABLE participants ADD COLUMN privacy_accepted_at TEXT;

-- The event that erased a person is still recorded (a redelivery must change nothing), but
-- without a link to them: participant_id becomes nullable.
CREATE TABLE processed_events_new (
    event_id        TEXT PRIMARY KEY,
    participant_id  INTEGER REFERENCES participants(id) ON DELETE CASCADE,
    received_at     TEXT NOT NULL,
    replies         TEXT NOT NULL,
    replies_sent    INTEGER NOT NULL DEFAULT 0
);

INSERT INTO processed_events_new SELECT event_id, participant_id, received_at, replies,
    replies_sent FROM processed_events;

DROP TABLE processed_events;

ALTER TABLE processed_events_new RENAME TO processed_events;

CREATE INDEX processed_events_unsent ON processed_events(participant_id) WHERE replies_sent = 0;
