-- taskmill schema, version 3: aging.

-- When the task's wait began, for aging: it became ready (submitted, due, retried or put
-- back), shifted later by the time it then spent paused. paused_since is when its current
-- pause (for any reason but preemption) began.
ALTER TABLE tasks ADD COLUMN aging_from REAL NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN paused_since REAL;
UPDATE tasks SET aging_from = coalesce(not_before, created_at);
UPDATE tasks SET paused_since = created_at WHERE (pause_reasons & ~1) != 0;
