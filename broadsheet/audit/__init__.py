"""The audit log: what happened, to what, by whom."""
