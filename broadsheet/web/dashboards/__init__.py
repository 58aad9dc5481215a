"""Dashboards' pages: reading them (``pages``), edit mode (``layout``) and the embed dialog
(``embedding``)."""

from __future__ import annotations

from fastapi import APIRouter

from broadsheet.web.dashboards import embedding, layout, pages

router = APIRouter()
router.include_router(pages.router)
router.include_router(layout.router)
router.include_router(embedding.router)
