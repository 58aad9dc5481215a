"""Report definitions: what to query, with which parameters, drawn how."""
