-- Several workers on one database (see bot/workers.py): who sends an event's replies.
-- processed_events.sender: the worker that committed the event (or took its replies over)
-- and sends them; while it is alive no other worker sends them. NULL: nobody's (written
-- before this column, or by a process that is no worker), any worker may take them.
ALTER TABLE processed_events ADD COLUMN sender TEXT;
