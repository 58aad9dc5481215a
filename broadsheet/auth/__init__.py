"""Tenants, users, API keys and roles."""
