-- taskmill schema, version 6: dependencies.

-- task_id waits for depends_on to complete. An edge exists only while both are active: a
-- dependency that completes removes its edges; one that fails applies each dependent's
-- on_dependency_failure policy.
CREATE TABLE dependencies (
    task_id    INTEGER NOT NULL,
    depends_on INTEGER NOT NULL,
    PRIMARY KEY (task_id, depends_on)
) WITHOUT ROWID;
CREATE INDEX dependencies_by_dependency ON dependencies (depends_on, task_id);

-- What a task does when a dependency fails: 'cancel' (NULL; it and everything after it end as
-- dependency_failed), 'fail' (only it ends so) or 'ignore' (the edge is dropped).
ALTER TABLE tasks ADD COLUMN on_dependency_failure TEXT;
