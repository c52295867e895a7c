-- As ../0009_campaigns.sql: the campaign of responses, registrations, outbox rows and staff
-- grants ('' in staff: every campaign); rows of a one-campaign database go to the campaign
-- recorded in campaign_in_use, else '' until the bot starts (attribute_unowned).

ALTER TABLE responses ADD COLUMN campaign TEXT NOT NULL DEFAULT '';

ALTER TABLE responses DROP CONSTRAINT responses_participant_id_survey_id_key;

ALTER TABLE responses ADD CONSTRAINT responses_participant_campaign_survey_key
    UNIQUE (participant_id, campaign, survey_id);

UPDATE responses SET campaign = COALESCE((SELECT campaign::json #>> '{campaign,id}'
    FROM campaign_in_use WHERE id = 1), '');

CREATE INDEX responses_by_survey ON responses(campaign, survey_id);

ALTER TABLE registrations ADD COLUMN campaign TEXT NOT NULL DEFAULT '';

ALTER TABLE registrations DROP CONSTRAINT registrations_participant_id_meeting_id_key;

ALTER TABLE registrations ADD CONSTRAINT registrations_participant_campaign_meeting_key
    UNIQUE (participant_id, campaign, meeting_id);

UPDATE registrations SET campaign = COALESCE((SELECT campaign::json #>> '{campaign,id}'
    FROM campaign_in_use WHERE id = 1), '');

DROP INDEX registrations_by_meeting;

CREATE INDEX registrations_by_meeting ON registrations(campaign, meeting_id, status, queue_seq);

ALTER TABLE outbox ADD COLUMN campaign TEXT NOT NULL DEFAULT '';

UPDATE outbox SET campaign = COALESCE((SELECT campaign::json #>> '{campaign,id}'
    FROM campaign_in_use WHERE id = 1), '');

ALTER TABLE staff ADD COLUMN campaign TEXT NOT NULL DEFAULT '';

ALTER TABLE staff DROP CONSTRAINT staff_pkey;

ALTER TABLE staff ADD PRIMARY KEY (platform, workspace, user_id, campaign);

CREATE TABLE campaigns_in_use (
    campaign_id TEXT PRIMARY KEY,
    campaign    TEXT NOT NULL,
    loaded_at   TEXT NOT NULL
);
