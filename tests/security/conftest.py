"""Fixtures of the security tests."""

from __future__ import annotations

import pytest

from tests.security.resolver import Resolver


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> Resolver:
    """``socket.getaddrinfo`` answering the names a test chooses, for this test only."""
    return Resolver(monkeypatch)
