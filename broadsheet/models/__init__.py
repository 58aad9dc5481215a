"""Every table, imported here so ``Base.metadata`` knows them all (Alembic reads it)."""

from broadsheet.models.audit import AuditChain, AuditEvent
from broadsheet.models.base import Base
from broadsheet.models.dashboards import Dashboard
from broadsheet.models.datasources import DataSource
from broadsheet.models.events import Event, EventDelivery, EventSubscription
from broadsheet.models.jobs import JobStatus, JobTrigger, ReportJob, ReportResult
from broadsheet.models.reports import ReportDefinition
from broadsheet.models.schedules import (
    EmailUnsubscribe,
    ReportDelivery,
    ReportExecution,
    ReportSchedule,
)
from broadsheet.models.sign_in import SignInThrottle, WebSession
from broadsheet.models.tenancy import ApiKey, Role, Tenant, User
from broadsheet.models.views import (
    DashboardView,
    RecentReportView,
    ReportDefinitionView,
    ScheduledReportView,
)

__all__ = [
    "ApiKey",
    "AuditChain",
    "AuditEvent",
    "Base",
    "Dashboard",
    "DashboardView",
    "DataSource",
    "EmailUnsubscribe",
    "Event",
    "EventDelivery",
    "EventSubscription",
    "JobStatus",
    "JobTrigger",
    "RecentReportView",
    "ReportDefinition",
    "ReportDefinitionView",
    "ReportDelivery",
    "ReportExecution",
    "ReportJob",
    "ReportResult",
    "ReportSchedule",
    "Role",
    "ScheduledReportView",
    "SignInThrottle",
    "Tenant",
    "User",
    "WebSession",
]
