"""Exports of a stored result: one module per format behind one registry."""
