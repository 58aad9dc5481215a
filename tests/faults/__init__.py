"""Fault tests: Broadsheet with its peers going away, stalling and coming back."""
