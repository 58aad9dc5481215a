"""Signed links: what they carry comes back, and anything changed or expired is refused."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from broadsheet.deliveries import links
from broadsheet.runtime import Runtime

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


def respellings(token: str) -> list[str]:
    """Other base64 spellings of the same signature bytes, which a lenient decoder accepts:
    the unused low bits of the last character set, padding, a stray character."""
    body, signature = token.split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(signature[-1])
    # 32 bytes are 43 characters: the last carries 4 bits of signature and 2 unused ones.
    same_bytes = [signature[:-1] + alphabet[last ^ bit] for bit in (1, 2, 3)]
    return [
        *(f"{body}.{spelling}" for spelling in same_bytes),
        f"{body}.{signature}=",
        f"{body}.{signature[:10]}!{signature[10:]}",
        f"{body}.{signature[:10]}\n{signature[10:]}".replace("\n", "%0A"),
    ]


def test_a_signature_opens_only_in_the_spelling_it_was_written_in() -> None:
    import base64

    later = datetime.now(UTC) + timedelta(days=1)
    token = links.artifact_token(SECRET, uuid.uuid4(), uuid.uuid4(), later)
    assert links.open_artifact_token(SECRET, token).expires_at > datetime.now(UTC)
    signature = token.split(".")[1]
    for other in respellings(token)[:3]:
        # The same bytes, so a decode-then-compare check would let each of these through.
        padded = other.split(".")[1] + "="
        assert base64.urlsafe_b64decode(padded) == base64.urlsafe_b64decode(signature + "=")
        with pytest.raises(links.LinkTampered):
            links.open_artifact_token(SECRET, other)


def forged(secret: str, payload: dict[str, object], purpose: str = "artifact-links") -> str:
    """A token signed with the deployment's key, carrying a payload we never write."""
    return links.Signer(secret, purpose).sign(payload)


WRONG_PAYLOADS: list[dict[str, object]] = [
    {"x": 1e20},
    {"x": 2**63 - 1},
    {"x": -(2**63)},
    {"x": 253_402_300_800},  # 10000-01-01: past what a datetime holds
    {"x": -1},
    {"x": 1.5},
    {"x": "2000000000"},
    {"x": True},
    {"x": None},
    {"x": [1]},
    {"t": 123},
    {"t": ["a"]},
    {"t": "not-a-uuid"},
    {"e": {"a": 1}},
    {"e": None},
]


@pytest.mark.parametrize("change", WRONG_PAYLOADS)
def test_a_signed_artifact_token_with_a_wrong_field_is_a_problem_not_a_500(
    client: TestClient, runtime: Runtime, change: dict[str, object]
) -> None:
    secret = runtime.settings.resolved_secret_key
    payload: dict[str, object] = {
        "t": str(uuid.uuid4()),
        "e": str(uuid.uuid4()),
        "x": int((datetime.now(UTC) + timedelta(days=1)).timestamp()),
    }
    got = client.get(f"/api/v1/artifacts/{forged(secret, {**payload, **change})}")
    assert got.status_code in (403, 410, 422), got.text
    assert got.headers["content-type"] == "application/problem+json"
    missing = {key: value for key, value in payload.items() if key not in change}
    assert client.get(f"/api/v1/artifacts/{forged(secret, missing)}").status_code == 403
    # The payload as Broadsheet writes it passes these checks (no such execution: 404).
    assert client.get(f"/api/v1/artifacts/{forged(secret, payload)}").status_code == 404


def test_a_respelled_signature_is_a_403_over_http(client: TestClient, runtime: Runtime) -> None:
    secret = runtime.settings.resolved_secret_key
    later = datetime.now(UTC) + timedelta(days=1)
    token = links.artifact_token(secret, uuid.uuid4(), uuid.uuid4(), later)
    assert client.get(f"/api/v1/artifacts/{token}").status_code == 404  # valid, nothing there
    for other in respellings(token):
        got = client.get(f"/api/v1/artifacts/{other}")
        assert got.status_code == 403, other
        assert got.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("address", [None, 42, ["a@example.com"]])
def test_a_signed_unsubscribe_token_with_a_wrong_field_is_a_403(
    client: TestClient, runtime: Runtime, address: object
) -> None:
    secret = runtime.settings.resolved_secret_key
    token = forged(secret, {"t": str(uuid.uuid4()), "a": address}, "unsubscribe-links")
    got = client.get(f"/api/v1/unsubscribe/{token}")
    assert got.status_code == 403
    assert got.headers["content-type"] == "application/problem+json"
