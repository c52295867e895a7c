-- As ../0004_slack.sql (portable as it is).
-- Slack: the app installed in many workspaces (OAuth), one row per workspace with its bot
-- token; and the OAuth flow's one-time state values. The installer's user id is personal
-- data: erasing that person blanks it (storage.participants.delete_participant).

CREATE TABLE slack_installations (
    team_id              TEXT PRIMARY KEY,
    enterprise_id        TEXT NOT NULL DEFAULT '',
    team_name            TEXT NOT NULL DEFAULT '',
    app_id               TEXT NOT NULL DEFAULT '',
    bot_token            TEXT NOT NULL,
    bot_id               TEXT NOT NULL DEFAULT '',
    bot_user_id          TEXT NOT NULL DEFAULT '',
    bot_scopes           TEXT NOT NULL DEFAULT '',
    installer_user_id    TEXT NOT NULL DEFAULT '',
    installed_at         TEXT NOT NULL
);

CREATE TABLE slack_oauth_states (
    state       TEXT PRIMARY KEY,
    expires_at  TEXT NOT NULL
);
