"""Data sources: the databases reports query, their connections, and the demo dataset."""
