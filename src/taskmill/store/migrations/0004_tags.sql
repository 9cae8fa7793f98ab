-- taskmill schema, version 4: tags.

-- A task's tags as a JSON object (NULL: none); history and schedules keep them too.
ALTER TABLE tasks ADD COLUMN tags TEXT;
ALTER TABLE history ADD COLUMN tags TEXT;
ALTER TABLE schedules ADD COLUMN tags TEXT;

-- One row per tag of an active task, to find, count and cancel tasks by tag. Triggers keep it
-- in step with tasks.tags (version 8 drops the insert trigger: the submit code adds the rows).
CREATE TABLE task_tags (
    key     TEXT    NOT NULL,
    value   TEXT    NOT NULL,
    task_id INTEGER NOT NULL,
    PRIMARY KEY (key, value, task_id)
) WITHOUT ROWID;
CREATE INDEX task_tags_by_task ON task_tags (task_id);

CREATE TRIGGER task_tags_insert AFTER INSERT ON tasks WHEN NEW.tags IS NOT NULL
BEGIN
    INSERT INTO task_tags (key, value, task_id)
    SELECT key, value, NEW.id FROM json_each(NEW.tags);
END;

CREATE TRIGGER task_tags_update AFTER UPDATE OF tags ON tasks
WHEN OLD.tags IS NOT NEW.tags
BEGIN
    DELETE FROM task_tags WHERE task_id = OLD.id;
    INSERT INTO task_tags (key, value, task_id)
    SELECT key, value, NEW.id FROM json_each(NEW.tags) WHERE NEW.tags IS NOT NULL;
END;

CREATE TRIGGER task_tags_delete AFTER DELETE ON tasks WHEN OLD.tags IS NOT NULL
BEGIN
    DELETE FROM task_tags WHERE task_id = OLD.id;
END;
