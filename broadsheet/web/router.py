"""Every page of the web UI and its static files; ``broadsheet.app`` includes this router.

A page module makes its router with ``broadsheet.web.routing.page_router()`` and is
included here.
"""

from __future__ import annotations

from fastapi import APIRouter

from broadsheet.web import (
    admin,
    builder,
    dashboards,
    reports,
    results_pages,
    runs,
    schedule_runs,
    schedules,
    sign_in,
    static_files,
)

router = APIRouter()
router.include_router(sign_in.router)
router.include_router(sign_in.form_router)
router.include_router(reports.router)
router.include_router(builder.router)
router.include_router(runs.router)
router.include_router(results_pages.router)
router.include_router(schedules.router)
router.include_router(schedule_runs.router)
router.include_router(admin.router)
router.include_router(dashboards.router)
router.add_api_route("/favicon.ico", static_files.favicon, include_in_schema=False)
router.mount(static_files.PREFIX, static_files.files(), name="static")
