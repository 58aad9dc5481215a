"""Broadsheet: a self-hosted reporting service."""

__version__ = "0.1.0"
