-- Several campaigns in one database. Each row that belongs to a campaign says which:
-- responses (a survey's ids are unique within its campaign), registrations (for the meeting's
-- own campaign: a meeting shared by several campaigns is registered for once, under the
-- campaign that declares it), outbox rows, and staff grants ('' there: every campaign, as a
-- grant was before). Rows of a database that ran one campaign go to that campaign: the one
-- recorded in campaign_in_use, else '' until the bot starts and gives them to its default
-- campaign (storage.campaign.attribute_unowned). Tables are rebuilt for the new unique
-- keys; the migration runs with foreign keys off (storage/database.py), so dropping
-- responses does not take the answers with it.

CREATE TABLE responses_new (
    id              INTEGER PRIMARY KEY,
    participant_id  INTEGER REFERENCES participants(id) ON DELETE CASCADE,
    campaign        TEXT NOT NULL DEFAULT '',
    survey_id       TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('in_progress', 'submitted')),
    started_at      TEXT NOT NULL,
    submitted_at    TEXT,
    updated_at      TEXT NOT NULL,
    UNIQUE (participant_id, campaign, survey_id)
);

INSERT INTO responses_new (id, participant_id, campaign, survey_id, status, started_at,
    submitted_at, updated_at)
SELECT id, participant_id,
    COALESCE((SELECT json_extract(campaign, '$.campaign.id') FROM campaign_in_use
              WHERE id = 1), ''),
    survey_id, status, started_at, submitted_at, updated_at FROM responses;

DROP TABLE responses;

ALTER TABLE responses_new RENAME TO responses;

CREATE INDEX responses_by_survey ON responses(campaign, survey_id);

CREATE TABLE registrations_new (
    id              INTEGER PRIMARY KEY,
    participant_id  INTEGER NOT NULL REFERENCES participants(id) ON DELETE CASCADE,
    campaign        TEXT NOT NULL DEFAULT '',
    meeting_id      TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('confirmed', 'waiting', 'cancelled')),
    queue_seq       INTEGER NOT NULL,
    name            TEXT,
    role            TEXT,
    organisation    TEXT,
    municipality    TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (participant_id, campaign, meeting_id)
);

INSERT INTO registrations_new (id, participant_id, campaign, meeting_id, status, queue_seq,
    name, role, organisation, municipality, created_at, updated_at)
SELECT id, participant_id,
    COALESCE((SELECT json_extract(campaign, '$.campaign.id') FROM campaign_in_use
              WHERE id = 1), ''),
    meeting_id, status, queue_seq, name, role, organisation, municipality, created_at,
    updated_at FROM registrations;

DROP TABLE registrations;

ALTER TABLE registrations_new RENAME TO registrations;

CREATE INDEX registrations_by_meeting ON registrations(campaign, meeting_id, status, queue_seq);

ALTER TABLE outbox ADD COLUMN campaign TEXT NOT NULL DEFAULT '';

UPDATE outbox SET campaign = COALESCE((SELECT json_extract(campaign, '$.campaign.id')
    FROM campaign_in_use WHERE id = 1), '');

CREATE TABLE staff_new (
    platform        TEXT NOT NULL,
    workspace       TEXT NOT NULL DEFAULT '',
    user_id         TEXT NOT NULL,
    campaign        TEXT NOT NULL DEFAULT '',
    granted_at      TEXT NOT NULL,
    PRIMARY KEY (platform, workspace, user_id, campaign)
);

INSERT INTO staff_new (platform, workspace, user_id, campaign, granted_at)
SELECT platform, workspace, user_id, '', granted_at FROM staff;

DROP TABLE staff;

ALTER TABLE staff_new RENAME TO staff;

-- Each campaign the running bot uses, so that `participation-bot reload` compares a file
-- with the campaign of the same id (campaign_in_use keeps the default one).
CREATE TABLE campaigns_in_use (
    campaign_id TEXT PRIMARY KEY,
    campaign    TEXT NOT NULL,
    loaded_at   TEXT NOT NULL
);
