-- The first schema. Every table that holds a participant's data references participants(id),
-- so erasing a person is deleting one row (ON DELETE CASCADE does the rest).

CREATE TABLE participants (
    id              INTEGER PRIMARY KEY,
    platform        TEXT NOT NULL,
    workspace       TEXT NOT NULL DEFAULT '',
    user_id         TEXT NOT NULL,
    language        TEXT,
    language_chosen INTEGER NOT NULL DEFAULT 0,
    name            TEXT,
    role            TEXT,
    organisation    TEXT,
    municipality    TEXT,
    unreachable     INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL,
    UNIQUE (platform, workspace, user_id)
);

CREATE TABLE conversation_state (
    participant_id  INTEGER PRIMARY KEY REFERENCES participants(id) ON DELETE CASCADE,
    state           TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);

-- One row per event the engine committed: redelivered events are recognised by event_id, and
-- the replies stay here until the handler confirms they went out.
CREATE TABLE processed_events (
    event_id        TEXT PRIMARY KEY,
    participant_id  INTEGER NOT NULL REFERENCES participants(id) ON DELETE CASCADE,
    received_at     TEXT NOT NULL,
    replies         TEXT NOT NULL,
    replies_sent    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX processed_events_unsent ON processed_events(participant_id) WHERE replies_sent = 0;

CREATE TABLE registrations (
    id              INTEGER PRIMARY KEY,
    participant_id  INTEGER NOT NULL REFERENCES participants(id) ON DELETE CASCADE,
    meeting_id      TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('confirmed', 'waiting', 'cancelled')),
    queue_seq       INTEGER NOT NULL,
    name            TEXT,
    role            TEXT,
    organisation    TEXT,
    municipality    TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (participant_id, meeting_id)
);
CREATE INDEX registrations_by_meeting ON registrations(meeting_id, status, queue_seq);

CREATE TABLE responses (
    id              INTEGER PRIMARY KEY,
    participant_id  INTEGER REFERENCES participants(id) ON DELETE CASCADE,
    survey_id       TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('in_progress', 'submitted')),
    started_at      TEXT NOT NULL,
    submitted_at    TEXT,
    updated_at      TEXT NOT NULL,
    UNIQUE (participant_id, survey_id)
);

CREATE TABLE answers (
    response_id     INTEGER NOT NULL REFERENCES responses(id) ON DELETE CASCADE,
    question_id     TEXT NOT NULL,
    value           TEXT,
    skipped         INTEGER NOT NULL DEFAULT 0,
    answered_at     TEXT NOT NULL,
    PRIMARY KEY (response_id, question_id)
);

-- Messages decided by a transaction and delivered later by a platform's dispatcher.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    participant_id  INTEGER NOT NULL REFERENCES participants(id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    dedupe_key      TEXT NOT NULL UNIQUE,
    message         TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'failed', 'unreachable')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    sent_at         TEXT,
    last_error      TEXT
);
CREATE INDEX outbox_due ON outbox(status, next_attempt_at);

CREATE TABLE staff (
    platform        TEXT NOT NULL,
    workspace       TEXT NOT NULL DEFAULT '',
    user_id         TEXT NOT NULL,
    granted_at      TEXT NOT NULL,
    PRIMARY KEY (platform, workspace, user_id)
);
