-- Several workers on one database (see bot/workers.py): who sends an event's replies.
-- processed_events.sender: the worker that committed the event (or took its replies over)
-- and sends them; while it is alive no other worker sends them. NULL: nobody's (written
-- before this column, or by a process that is no worker), any worker may take them.
-- processed_events.parts_sent: how many of the replies went out, counted as each goes while
-- more follow: whoever sends the rest after a crash starts after them (nothing twice).
ALTER TABLE processed_events ADD COLUMN sender TEXT;
ALTER TABLE processed_events ADD COLUMN parts_sent INTEGER NOT NULL DEFAULT 0;
