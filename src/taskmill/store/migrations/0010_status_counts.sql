-- taskmill schema, version 10: counting tasks by status without reading the queue.

-- Every task that is not pending: running ones (at most the concurrency), paused, blocked and
-- waiting ones. Counts by status read this index and the narrowest one over all rows (pending
-- = all - the rest), so a snapshot costs milliseconds with a million tasks queued instead of a
-- scan of the table. Maintained only as tasks start, end, pause or wait. Queries add the term
-- "status != 'pending'" verbatim so SQLite can use this partial index.
CREATE INDEX tasks_not_pending ON tasks (status) WHERE status != 'pending';
