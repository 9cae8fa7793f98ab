-- taskmill schema, version 2: groups, pause reasons, TTLs, recurring schedules.

-- A task's group shares pause state (and, later, limits) with the other tasks of the group.
ALTER TABLE tasks ADD COLUMN group_key TEXT;
-- Why a task is paused, one bit per reason: 1 preempted, 2 global, 4 domain, 8 group.
-- A task is 'paused' while any bit is set and it is not running; it runs again once all clear.
ALTER TABLE tasks ADD COLUMN pause_reasons INTEGER NOT NULL DEFAULT 0;
-- Time to live in seconds, counted from submission or (ttl_from_start = 1) the first attempt;
-- expires_at is when the task expires unless it has started by then.
ALTER TABLE tasks ADD COLUMN ttl REAL;
ALTER TABLE tasks ADD COLUMN ttl_from_start INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN expires_at REAL;
-- The recurring schedule this task is an occurrence of.
ALTER TABLE tasks ADD COLUMN schedule_id INTEGER;

CREATE INDEX tasks_by_group ON tasks (group_key) WHERE group_key IS NOT NULL;
CREATE INDEX tasks_expiring ON tasks (expires_at)
    WHERE expires_at IS NOT NULL AND status != 'running';
CREATE INDEX tasks_paused ON tasks (pause_reasons) WHERE pause_reasons != 0;

ALTER TABLE history ADD COLUMN group_key TEXT;
ALTER TABLE history ADD COLUMN schedule_id INTEGER;
-- Seconds the final attempt ran; NULL for tasks that ended while not running (expired,
-- cancelled while waiting), whose started_at belongs to an earlier attempt if any.
ALTER TABLE history ADD COLUMN duration REAL;
UPDATE history SET duration = max(0.0, finished_at - started_at) WHERE started_at IS NOT NULL;

-- Paused scopes: the global scope (name ''), domains and groups. A group pause may carry a
-- deadline (until) at which it lifts by itself.
CREATE TABLE pauses (
    scope     TEXT NOT NULL,                    -- global | domain | group
    name      TEXT NOT NULL,
    until     REAL,
    paused_at REAL NOT NULL,
    PRIMARY KEY (scope, name)
) WITHOUT ROWID;

-- Recurring schedules. Ids come from the tasks id sequence, so a schedule id is never the id
-- of a task. Each occurrence is an ordinary task with schedule_id set.
CREATE TABLE schedules (
    id              INTEGER PRIMARY KEY,
    type            TEXT    NOT NULL,
    key             TEXT    NOT NULL,
    label           TEXT    NOT NULL,
    priority        INTEGER NOT NULL,
    group_key       TEXT,
    payload         BLOB    NOT NULL,
    retry_policy    BLOB,
    ttl             REAL,
    ttl_from_start  INTEGER NOT NULL DEFAULT 0,
    io_read         INTEGER NOT NULL DEFAULT 0,
    io_write        INTEGER NOT NULL DEFAULT 0,
    io_rx           INTEGER NOT NULL DEFAULT 0,
    io_tx           INTEGER NOT NULL DEFAULT 0,
    every           REAL,                       -- interval in seconds (Every)
    fixed_rate      INTEGER NOT NULL DEFAULT 0, -- 1: every tick; 0: interval after completion
    cron            TEXT,                       -- cron expression (Cron)
    tz              TEXT,                       -- IANA time zone of the cron expression
    max_occurrences INTEGER,
    occurrences     INTEGER NOT NULL DEFAULT 0, -- occurrences created so far
    next_at         REAL,                       -- next occurrence; NULL while none is due
    current_task    INTEGER,                    -- the latest occurrence
    status          TEXT    NOT NULL,           -- active | paused | completed | cancelled
    created_at      REAL    NOT NULL
);

CREATE UNIQUE INDEX schedules_by_key ON schedules (type, key)
    WHERE status IN ('active', 'paused');
CREATE INDEX schedules_due ON schedules (next_at)
    WHERE status = 'active' AND next_at IS NOT NULL;
