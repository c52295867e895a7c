-- As ../0007_database_clock.sql (portable as it is).
-- The database's own clock. A database started with `--now` (a demo of a campaign whose dates
-- are past) keeps the time it was given: its time is clock_at plus the real time passed since
-- wall_at, for every command run on it later. No row: the database runs on the real time.

CREATE TABLE database_clock (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    clock_at  TEXT NOT NULL,
    wall_at   TEXT NOT NULL
);
