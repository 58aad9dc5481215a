"""Signed links: what they carry comes back, and anything changed or expired is refused."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from broadsheet.deliveries import links

SECRET = "a-secret-of-the-deployment"


def test_an_artifact_token_opens_until_it_expires() -> None:
    tenant, execution = uuid.uuid4(), uuid.uuid4()
    now = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)
    token = links.artifact_token(SECRET, tenant, execution, now + timedelta(days=7))
    grant = links.open_artifact_token(SECRET, token, now)
    assert (grant.tenant_id, grant.execution_id) == (tenant, execution)
    with pytest.raises(links.LinkExpired) as expired:
        links.open_artifact_token(SECRET, token, now + timedelta(days=7, seconds=1))
    assert expired.value.status == 410


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # the signature
        lambda t: "e" + t[1:] if t[0] != "e" else "f" + t[1:],  # the payload
        lambda t: t.split(".")[0],  # no signature
        lambda t: "",
        lambda t: "..",
        lambda t: "not-base64!.also-not!",
    ],
)
def test_a_changed_token_is_refused(change: object) -> None:
    token = links.artifact_token(SECRET, uuid.uuid4(), uuid.uuid4(), datetime.now(UTC))
    with pytest.raises(links.LinkTampered) as refused:
        links.open_artifact_token(SECRET, change(token))  # type: ignore[operator]
    assert refused.value.status == 403


def test_tokens_do_not_cross_purposes_or_secrets() -> None:
    tenant = uuid.uuid4()
    unsubscribe = links.unsubscribe_token(SECRET, tenant, "Ann@Example.com")
    assert links.open_unsubscribe_token(SECRET, unsubscribe) == (tenant, "ann@example.com")
    with pytest.raises(links.LinkTampered):
        links.open_artifact_token(SECRET, unsubscribe)
    with pytest.raises(links.LinkTampered):
        links.open_unsubscribe_token("another-secret", unsubscribe)
