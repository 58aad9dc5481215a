"""What a process needs to run jobs, built once per process and passed in."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.config import Settings
from broadsheet.db import make_engine, make_sessionmaker
from broadsheet.storage import Storage, make_storage


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    storage: Storage

    @classmethod
    def build(cls, settings: Settings, engine: Engine | None = None) -> Runtime:
        engine = engine or make_engine(
            settings.resolved_database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
        )
        return cls(settings, engine, make_sessionmaker(engine), make_storage(settings))
