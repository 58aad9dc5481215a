"""Database URLs: pick the driver we ship for each scheme, and mask passwords for display."""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url

# Plain scheme → the driver Broadsheet installs. A URL that names its driver keeps it.
DEFAULT_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}


def normalize(url: str | URL) -> URL:
    """Parse a URL (``ValueError``-compatible ``ArgumentError`` if it is not one) and fill in
    the driver for a bare scheme, so ``postgresql://`` uses psycopg 3 rather than psycopg2."""
    parsed = make_url(url)
    driver = DEFAULT_DRIVERS.get(parsed.drivername)
    return parsed.set(drivername=driver) if driver else parsed


def masked(url: str | URL) -> str:
    return make_url(url).render_as_string(hide_password=True)
