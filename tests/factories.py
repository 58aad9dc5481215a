"""Factory functions for tests: tenants with keys, data sources, report bodies."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from broadsheet import demo
from broadsheet.auth import service as auth
from broadsheet.config import Settings
from broadsheet.db import session_scope
from broadsheet.models import Role

# Secrets the tests plant (the settings' secret key, every key issued here; tests add their
# own with ``plant``): tests/conftest.py fails the session if a captured log line shows one.
PLANTED: set[str] = {"test-secret-key-for-broadsheet"}


def plant(secret: str) -> str:
    PLANTED.add(secret)
    return secret


@dataclass
class Caller:
    key: str
    tenant: str
    role: Role

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


class Tenancy:
    def __init__(self, sessions: sessionmaker[Session], settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings

    def key(
        self,
        tenant: str = "acme",
        role: Role = Role.admin,
        name: str = "tester",
        scopes: list[str] | None = None,
    ) -> Caller:
        """A key of a user ``name`` with ``role``; ``scopes`` default to all the role uses."""
        with session_scope(self.sessions) as session:
            issued = auth.issue_key(
                session,
                tenant=tenant,
                role=role,
                name=name,
                email=f"{name}-{role}@{tenant}.test",
                scopes=scopes,
            )
        return Caller(plant(issued.key), tenant, role)

    def demo(self, tenant: str = "acme") -> None:
        """The demo source and reports in ``tenant``."""
        with session_scope(self.sessions) as session:
            demo.install(session, self.settings, tenant)


def report_body(**overrides: Any) -> dict[str, Any]:
    """Seed 000's example definition, changed by ``overrides``."""
    body = copy.deepcopy(demo.REPORTS[0])
    body.update(overrides)
    return body
