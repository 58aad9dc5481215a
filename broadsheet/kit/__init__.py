"""Helpers with no domain knowledge: time, crypto, schema base, pagination."""
