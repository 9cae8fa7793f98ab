-- taskmill schema, version 7: child tasks.

-- A child task names its parent. A parent whose executor returned while children were
-- active is 'waiting'; phase 'finalize' means its next run is its finalize step, with the
-- memo its executor saved. fail_fast: the first failed child cancels its siblings and fails
-- the parent.
ALTER TABLE tasks ADD COLUMN parent_id INTEGER;
ALTER TABLE tasks ADD COLUMN phase TEXT;
ALTER TABLE tasks ADD COLUMN memo BLOB;
ALTER TABLE tasks ADD COLUMN fail_fast INTEGER NOT NULL DEFAULT 1;
ALTER TABLE history ADD COLUMN parent_id INTEGER;

CREATE INDEX tasks_by_parent ON tasks (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX history_by_parent ON history (parent_id) WHERE parent_id IS NOT NULL;
