"""Data taskmill passes around: records, statuses, priorities, outcomes, errors, events."""
