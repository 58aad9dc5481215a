"""A resolver the tests control: ``socket.getaddrinfo`` answering chosen names with chosen
addresses, a different answer on each call if asked (DNS rebinding), and counting the calls.
Other names (and address literals) go to the real resolver."""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest

_real_getaddrinfo = socket.getaddrinfo


class Resolver:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.answers: dict[str, list[Sequence[str]]] = {}
        self.calls: Counter[str] = Counter()
        monkeypatch.setattr(socket, "getaddrinfo", self._getaddrinfo)

    def answer(self, name: str, *answers: Sequence[str]) -> None:
        """``name`` resolves to ``answers[0]`` first, ``answers[1]`` next, …, the last one
        from then on."""
        self.answers[name.lower()] = list(answers)

    def _getaddrinfo(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        answers = self.answers.get(name.lower())
        if answers is None:
            return _real_getaddrinfo(host, port, *args, **kwargs)
        self.calls[name.lower()] += 1
        addresses = answers[min(self.calls[name.lower()], len(answers)) - 1]
        number = int(port) if port not in (None, "") else 0
        return [_info(address, number) for address in addresses]


def _info(address: str, port: int) -> tuple[Any, ...]:
    if ":" in address:
        return (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port, 0, 0))
    return (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))
