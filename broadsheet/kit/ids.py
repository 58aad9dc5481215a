import uuid

from broadsheet.errors import NotFound


def parse_id(value: str, what: str) -> uuid.UUID:
    """A path id that is not a UUID names nothing: 404, like any other unknown id."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"no {what} {value!r}") from None
