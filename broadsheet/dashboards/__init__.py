"""Dashboards: grids of widgets over reports, with shared filters (issue 14)."""
