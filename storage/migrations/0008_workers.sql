-- Several workers on one database (see bot/workers.py).
-- workers: each running process (a worker) says it is alive; a worker whose heartbeat is
-- older than the lease is gone, and its claims may be judged.
-- outbox.claimed_by: the worker that holds a row (reserved while pending, or being sent).
-- participants.revision: bumped by every change to a person, so that a worker's cached copy
-- is checked against it before it is trusted.
-- campaign_in_use.revision: bumped when the campaign in use changes; every worker polls it.
-- job_runs: when a shared job (the daily purge, the reminders) last ran, on any worker.

CREATE TABLE workers (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    seen_at     TEXT NOT NULL
);

CREATE INDEX workers_seen ON workers(seen_at);

ALTER TABLE outbox ADD COLUMN claimed_by TEXT;

CREATE INDEX outbox_claimed ON outbox(claimed_by) WHERE claimed_by IS NOT NULL;

ALTER TABLE participants ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;

ALTER TABLE campaign_in_use ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;

CREATE TABLE job_runs (
    name        TEXT PRIMARY KEY,
    ran_at      TEXT NOT NULL
);
