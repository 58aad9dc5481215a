"""One channel per recipient type, made on first use (each builds its own client)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from broadsheet.config import Settings
from broadsheet.deliveries.channels.base import Channel

if TYPE_CHECKING:
    from broadsheet.deliveries.channels.email import EmailChannel


def _email(settings: Settings) -> Channel:
    from broadsheet.deliveries.channels.email import EmailChannel

    return EmailChannel(settings)


def _slack(settings: Settings) -> Channel:
    from broadsheet.deliveries.channels.slack import SlackChannel

    return SlackChannel(settings)


def _teams(settings: Settings) -> Channel:
    from broadsheet.deliveries.channels.teams import TeamsChannel

    return TeamsChannel(settings)


def _webhook(settings: Settings) -> Channel:
    from broadsheet.deliveries.channels.webhook import WebhookChannel

    return WebhookChannel(settings)


def _s3(settings: Settings) -> Channel:
    from broadsheet.deliveries.channels.s3 import S3Channel

    return S3Channel(settings)


FACTORIES: dict[str, Callable[[Settings], Channel]] = {
    "email": _email,
    "slack": _slack,
    "teams": _teams,
    "webhook": _webhook,
    "s3": _s3,
}


class Channels:
    """The channels of one process (per Settings), made once and shared by sender threads."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._made: dict[str, Channel] = {}
        self._lock = threading.Lock()

    def __getitem__(self, kind: str) -> Channel:
        with self._lock:
            if kind not in self._made:
                self._made[kind] = FACTORIES[kind](self.settings)
            return self._made[kind]

    @property
    def email(self) -> EmailChannel:
        """The email channel, which also mails notices to owners."""
        return cast("EmailChannel", self["email"])
