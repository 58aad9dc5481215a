"""``/api/v1/event-subscriptions``: admins' CRUD, the secret write-only, bad input a 422
naming the field, another tenant's subscription a 404."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from broadsheet.models import Role
from tests.events.helpers import SUBSCRIPTIONS
from tests.factories import Caller, Tenancy

SECRET = "a-secret-of-twenty-chars"
BODY: dict[str, Any] = {
    "url": "https://hooks.example.com/broadsheet?token=t",
    "types": ["broadsheet.job.completed", "broadsheet.job.failed"],
    "secret": SECRET,
}


@pytest.fixture
def admin(client: TestClient, tenancy: Tenancy) -> Caller:
    return tenancy.key("acme")


def test_crud_never_answers_the_secret(client: TestClient, admin: Caller) -> None:
    created = client.post(SUBSCRIPTIONS, json=BODY, headers=admin.headers)
    assert created.status_code == 201, created.text
    assert SECRET not in created.text
    sub = created.json()
    assert sub["url"] == BODY["url"] and sub["types"] == BODY["types"]
    assert sub["hasSecret"] is True and "secret" not in sub
    one = f"{SUBSCRIPTIONS}/{sub['id']}"
    listed = client.get(SUBSCRIPTIONS, headers=admin.headers)
    assert [s["id"] for s in listed.json()] == [sub["id"]]
    assert listed.headers["X-Total-Count"] == "1"
    # An update without the secret keeps it.
    changed = client.put(
        one, json={"url": BODY["url"], "types": ["broadsheet.report.updated"]},
        headers=admin.headers,
    )  # fmt: skip
    assert changed.status_code == 200, changed.text
    assert changed.json()["types"] == ["broadsheet.report.updated"]
    assert SECRET not in client.get(one, headers=admin.headers).text
    assert client.delete(one, headers=admin.headers).status_code == 204
    assert client.get(one, headers=admin.headers).status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"types": []}, "types"),
        ({"types": ["broadsheet.job.exploded"]}, "types[0]"),
        ({"secret": "too-short"}, "secret"),
        ({"secret": None}, "secret"),
        ({"url": "ftp://files.example.com/in"}, "url"),
        ({"url": "http://hooks.example.com/plain"}, "url"),  # http is not allowed by default
        ({"url": "https://user:pw@hooks.example.com/"}, "url"),
        ({"extra": 1}, "extra"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(
    client: TestClient, admin: Caller, change: dict[str, Any], field: str
) -> None:
    body = {k: v for k, v in {**BODY, **change}.items() if v is not None}
    response = client.post(SUBSCRIPTIONS, json=body, headers=admin.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_only_admins_of_the_tenant_manage_them(
    client: TestClient, admin: Caller, tenancy: Tenancy
) -> None:
    sub = client.post(SUBSCRIPTIONS, json=BODY, headers=admin.headers).json()
    editor = tenancy.key("acme", Role.editor, name="writer")
    assert client.get(SUBSCRIPTIONS, headers=editor.headers).status_code == 403
    assert client.post(SUBSCRIPTIONS, json=BODY, headers=editor.headers).status_code == 403
    other = tenancy.key("globex")
    assert client.get(SUBSCRIPTIONS, headers=other.headers).json() == []
    for method in ("GET", "DELETE"):
        response = client.request(method, f"{SUBSCRIPTIONS}/{sub['id']}", headers=other.headers)
        assert response.status_code == 404
    response = client.put(f"{SUBSCRIPTIONS}/{sub['id']}", json=BODY, headers=other.headers)
    assert response.status_code == 404
    assert client.get(f"{SUBSCRIPTIONS}/not-an-id", headers=admin.headers).status_code == 404
