"""schemathesis over the API's own ``/openapi.json``, signed in as an admin of a tenant with the
demo's data: every generated request (valid and invalid) is answered without a 5xx and within
the schema the API publishes, one operation at a time and in sequences that follow the links
schemathesis infers (a created report's id fed to its reads, updates and deletes).

Bounded here (``FUZZ_EXAMPLES`` per run); ``bench/fuzz.py`` runs the same for longer. Each
failure it finds becomes a plain regression test beside the code it broke."""

from __future__ import annotations

import os
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation.case import Case as GenericCase
from schemathesis.specs.openapi.checks import positive_data_acceptance
from schemathesis.specs.openapi.schemas import OpenApiSchema

from tests.factories import Tenancy

Case = GenericCase[Any]

# Examples per run: enough to reach every operation a few times in CI's time.
FUZZ_EXAMPLES = int(os.environ.get("BROADSHEET_FUZZ_EXAMPLES", "200"))
STATEFUL_STEPS = int(os.environ.get("BROADSHEET_FUZZ_STEPS", "40"))

# The metadata database does not change what the API's schema says; SQLite is enough here.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

# Every check but one: a request the schema allows may still be refused with a 422, because the
# API checks meaning JSON Schema cannot say (a cron expression, a domain name, a query's
# parameters). That a request the schema refuses is refused is checked
# (negative_data_rejection), as are 5xx, status codes, headers, content types and bodies.
EXCLUDED: list[schemathesis.CheckFunction] = [positive_data_acceptance]

_FUZZ_SETTINGS = settings(
    deadline=None,
    database=None,  # no example database in the checkout: every run draws afresh
    derandomize=False,
    suppress_health_check=list(HealthCheck),
    max_examples=FUZZ_EXAMPLES,
)


def _short_wait(case: Case) -> None:
    """A long poll's ``wait`` (up to 30 s, valid) cut to a tenth of a second: the answer is the
    same, and the run's time goes to other requests."""
    wait = (case.query or {}).get("wait")
    if isinstance(wait, int | float) and not isinstance(wait, bool) and 0 < wait <= 30:
        case.query["wait"] = 0.1


@pytest.fixture
def api_schema(live_server: str) -> OpenApiSchema:
    return schemathesis.openapi.from_url(f"{live_server}/openapi.json")


@pytest.fixture
def admin_session(tenancy: Tenancy) -> requests.Session:
    tenancy.demo("acme")
    session = requests.Session()
    session.headers.update(tenancy.key("acme").headers)
    return session


def test_every_operation_answers_within_its_schema(
    api_schema: OpenApiSchema, admin_session: requests.Session
) -> None:
    @given(case=api_schema.as_strategy())
    @_FUZZ_SETTINGS
    def each(case: Case) -> None:
        _short_wait(case)
        case.call_and_validate(session=admin_session, excluded_checks=EXCLUDED)

    each()


def test_sequences_of_calls_answer_within_the_schema(
    api_schema: OpenApiSchema, admin_session: requests.Session
) -> None:
    machine = api_schema.as_state_machine()

    class Signed(machine):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: Case) -> dict[str, object]:
            _short_wait(case)
            return {"session": admin_session}

        def validate_response(
            self, response: schemathesis.Response, case: Case, **kwargs: object
        ) -> None:
            case.validate_response(response, excluded_checks=EXCLUDED, transport_kwargs=kwargs)

    Signed.run(
        settings=settings(
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            max_examples=max(1, STATEFUL_STEPS // 10),
            stateful_step_count=10,
        )
    )
