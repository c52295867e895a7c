-- As ../0006_web.sql (portable as it is).
-- The web chat: a browser keeps a random token (never stored here); each token's SHA-256
-- names a web participant (user_id, random). A second device joins the same participant
-- with a one-time code (its hash kept, short-lived). Erasing the person deletes their rows.

CREATE TABLE web_sessions (
    token_hash   TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL,
    created_at   TEXT NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);

CREATE TABLE web_codes (
    code_hash    TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL,
    expires_at   TEXT NOT NULL
);
