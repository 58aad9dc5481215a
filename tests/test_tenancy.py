"""A row is found by id only within its tenant: another tenant's is as absent as an unknown one."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from broadsheet import models
from broadsheet.errors import NotFound
from broadsheet.kit.tenancy import get_owned, owned
from tests.factories import Tenancy


def test_a_row_is_found_only_in_its_own_tenant(
    sessions: sessionmaker[Session], tenancy: Tenancy
) -> None:
    tenancy.demo("acme")
    tenancy.demo("globex")
    with sessions() as session:
        acme = session.scalar(select(models.Tenant.id).where(models.Tenant.slug == "acme"))
        globex = session.scalar(select(models.Tenant.id).where(models.Tenant.slug == "globex"))
        assert acme is not None and globex is not None
        report = session.scalars(
            select(models.ReportDefinition).where(models.ReportDefinition.tenant_id == acme)
        ).first()
        assert report is not None
        model = models.ReportDefinition

        assert owned(session, model, acme, report.id) is report
        assert get_owned(session, model, acme, report.id, "report") is report
        assert owned(session, model, globex, report.id) is None
        unknown = uuid.uuid4()
        assert owned(session, model, acme, unknown) is None
        for tenant_id, object_id in ((globex, report.id), (acme, unknown)):
            with pytest.raises(NotFound) as refused:
                get_owned(session, model, tenant_id, object_id, "report")
            assert refused.value.detail == f"no report {object_id}"
