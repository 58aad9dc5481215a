"""``/admin``: what a tenant's admins manage — data sources, users and roles, API keys, the
audit log and the tenant's delivery settings. Every page and form here needs the admin role
(others get the 403 page); the navigation shows ``Admin`` to admins only."""

from __future__ import annotations

from fastapi import APIRouter

from broadsheet.web.admin import audit_log, keys, overview, sources, tenant_settings, users

router = APIRouter()
for module in (overview, sources, users, keys, audit_log, tenant_settings):
    router.include_router(module.router)
