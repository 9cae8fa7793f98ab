-- taskmill schema, version 5: requeued duplicates.

-- A duplicate of a running task (on_duplicate "skip") asks for one more run after the
-- current attempt: with this payload, label and priority. NULL: no run requested.
ALTER TABLE tasks ADD COLUMN rerun_payload BLOB;
ALTER TABLE tasks ADD COLUMN rerun_label TEXT;
ALTER TABLE tasks ADD COLUMN rerun_priority INTEGER;
