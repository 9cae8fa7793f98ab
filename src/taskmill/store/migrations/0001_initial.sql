-- taskmill schema, version 1: the queue of active tasks and the history of finished ones.

-- Active tasks. Ids come from AUTOINCREMENT's sequence, so an id is never reused, even
-- after its task moved to history. Times are seconds since the Unix epoch.
CREATE TABLE tasks (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    type         TEXT    NOT NULL,              -- 'domain::name'
    key          TEXT    NOT NULL,              -- dedup key, unique per type while active
    key_hash     INTEGER NOT NULL,              -- 64-bit hash of (type, key): see tasks_by_key
    label        TEXT    NOT NULL,
    priority     INTEGER NOT NULL,              -- 0 (first) .. 255 (last)
    status       TEXT    NOT NULL,              -- pending | running | paused | waiting | blocked
    payload      BLOB    NOT NULL,              -- msgspec JSON
    retry_count  INTEGER NOT NULL DEFAULT 0,
    retry_policy BLOB,                          -- per-submission override, msgspec JSON
    created_at   REAL    NOT NULL,
    started_at   REAL,                          -- start of the latest attempt
    not_before   REAL,                          -- held back until then (retry backoff)
    last_error   TEXT,
    io_read      INTEGER NOT NULL DEFAULT 0,    -- expected IO, bytes
    io_write     INTEGER NOT NULL DEFAULT 0,
    io_rx        INTEGER NOT NULL DEFAULT 0,
    io_tx        INTEGER NOT NULL DEFAULT 0
);

-- Dedup lookups go through a 64-bit hash of (type, key) rather than the strings: entries are
-- a quarter of the size, so the random writes of a busy queue dirty far fewer pages. The
-- writer compares type and key of every match, so a hash collision never merges two keys;
-- uniqueness among active tasks is kept by the writer's check-then-insert, which runs
-- inside one BEGIN IMMEDIATE transaction.
CREATE INDEX tasks_by_key ON tasks (key_hash);

-- Dispatch reads this index in order: O(log n) to find the next task at any queue depth.
-- It carries the type so that tasks of types a scheduler cannot run are skipped in the index.
CREATE INDEX tasks_ready ON tasks (priority, id, type)
    WHERE status = 'pending' AND not_before IS NULL;

-- Delayed tasks, by the instant they become ready.
CREATE INDEX tasks_delayed ON tasks (not_before)
    WHERE status = 'pending' AND not_before IS NOT NULL;

-- Finished tasks. seq orders history; id is the id the task had in the queue.
CREATE TABLE history (
    seq          INTEGER PRIMARY KEY,
    id           INTEGER NOT NULL,
    type         TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    label        TEXT    NOT NULL,
    priority     INTEGER NOT NULL,
    status       TEXT    NOT NULL,              -- completed | failed | dead_letter | ...
    payload      BLOB    NOT NULL,
    retry_count  INTEGER NOT NULL,
    retry_policy BLOB,
    created_at   REAL    NOT NULL,
    started_at   REAL,
    finished_at  REAL    NOT NULL,
    last_error   TEXT,
    io_read      INTEGER NOT NULL,              -- expected IO, bytes
    io_write     INTEGER NOT NULL,
    io_rx        INTEGER NOT NULL,
    io_tx        INTEGER NOT NULL,
    actual_read  INTEGER NOT NULL,              -- IO the executor recorded, bytes
    actual_write INTEGER NOT NULL,
    actual_rx    INTEGER NOT NULL,
    actual_tx    INTEGER NOT NULL,
    retried_as   INTEGER                        -- id of the task retry_dead_letter() created
);

CREATE INDEX history_by_id ON history (id);
