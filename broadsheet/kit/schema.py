"""Base classes and field types for API schemas: camelCase on the wire, snake_case in Python."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, model_validator
from pydantic.alias_generators import to_camel


class ApiModel(BaseModel):
    """A response schema: serialised by alias (camelCase)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, from_attributes=True)


class ApiInput(ApiModel):
    """A request schema: unknown fields are an error, so a misspelt field is never ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", str_strip_whitespace=True
    )


class RoundTripInput(ApiInput):
    """A body that may be what a GET answered, sent back: its ``READ_ONLY`` fields (wire
    names) are accepted and ignored rather than refused as unknown."""

    READ_ONLY: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _drop_read_only(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k not in cls.READ_ONLY}
        return data


def _iana_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}; use an IANA name such as Europe/Paris"
        ) from None
    return name


def _clean_tags(tags: list[str]) -> list[str]:
    cleaned: list[str] = []
    for tag in (t.strip() for t in tags):
        if not tag or len(tag) > 50:
            raise ValueError("each tag must be 1 to 50 characters")
        if tag not in cleaned:
            cleaned.append(tag)
    return cleaned


# A time zone by its IANA name ("Europe/Paris"), checked against the zone database.
IanaZone = Annotated[str, AfterValidator(_iana_zone)]
# Tags: each 1 to 50 characters once trimmed, duplicates dropped, order kept.
Tags = Annotated[list[str], AfterValidator(_clean_tags)]
