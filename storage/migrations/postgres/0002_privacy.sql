-- ../0002_privacy.sql: who accepted which notice when; an erasing event outlives its person.

ALTER TABLE participants ADD COLUMN privacy_version TEXT;

ALTER TABLE participants ADD COLUMN privacy_accepted_at TEXT;

ALTER TABLE processed_events ALTER COLUMN participant_id DROP NOT NULL;
