"""The admin keys page sets a new key's scopes and expiry, and lists them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import partial

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.models import Role
from tests.factories import plant
from tests.web.helpers import post_form, sign_in_as

post = partial(post_form, page="/admin/keys")


def test_a_key_made_on_the_page_has_its_scopes_and_expiry(
    web: TestClient, sessions: sessionmaker[Session]
) -> None:
    me = sign_in_as(web, sessions, Role.admin).user_id
    form = web.get("/admin/keys").text
    for scope in ("read", "run", "write", "admin"):
        assert re.search(rf'id="scope-{scope}"[^>]*value="{scope}"[^>]*checked', form)
    day = (datetime.now(UTC) + timedelta(days=10)).date()
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token
    fields = {"name": "reader", "userId": str(me), "scopes": ["read"], "expiresOn": str(day)}
    made = web.post("/admin/keys", data={"csrf_token": token.group(1), **fields})
    assert made.status_code == 201, made.text
    key = plant(re.search(r'id="new-key"[^>]*value="([^"]+)"', made.text).group(1))  # type: ignore[union-attr]
    assert "with the scopes read, until" in made.text
    headers = {"Authorization": f"Bearer {key}"}
    assert web.get("/api/v1/reports", headers=headers).status_code == 200
    assert web.post("/api/v1/reports", json={}, headers=headers).status_code == 403
    row = re.search(rf"{re.escape(key[:10])}….*?</tr>", web.get("/admin/keys").text, re.S)
    assert row and 'data-label="Scopes">read<' in row.group(0)
    assert f'datetime="{day.isoformat()}T00:00:00' in row.group(0)

    past = post(web, "/admin/keys", {"name": "old", "userId": str(me), "expiresOn": "2020-01-01"})
    assert past.status_code == 422 and 'id="expiresOn-error"' in past.text
    assert "Choose a day after today" in past.text
    bad = post(web, "/admin/keys", {"name": "x", "userId": str(me), "scopes": "root"})
    assert bad.status_code == 422 and 'id="scopes-error"' in bad.text
