"""The event feed: an outbox of CloudEvents written with each change, read by pulling
(``GET /api/v1/events``) or pushed to subscriptions' URLs."""

from broadsheet.events.outbox import EVENT_TYPES, EventType, emit

__all__ = ["EVENT_TYPES", "EventType", "emit"]
