-- taskmill schema, version 8: new tasks' tag rows are written by the submit code itself.

-- A trigger on every insert cost about a microsecond per task even when it had no tags; the
-- code that inserts tasks now adds task_tags rows for the tagged ones only.
DROP TRIGGER IF EXISTS task_tags_insert;
