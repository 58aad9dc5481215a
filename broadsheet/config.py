"""One Settings object, read from ``BROADSHEET_*`` environment variables or a ``.env`` file.

Defaults run the embedded shape with no configuration: SQLite metadata and files under
``BROADSHEET_DATA_DIR``. Settings are passed in to whatever needs them; nothing reads a global.
"""

from __future__ import annotations

import os
import re
import secrets
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from broadsheet.auth import passwords
from broadsheet.datasources.hostguard import HostAllowlist
from broadsheet.kit import secret_keys

# A CSP source that names an origin (scheme://host[:port], the host may start with *.), or
# one of the keywords that make sense for frame-ancestors.
EMBED_ORIGIN = re.compile(
    r"^(?:'self'|'none'|https?://(?:\*\.)?[A-Za-z0-9.-]+(?::(?:\d{1,5}|\*))?/?)$"
)


class Executor(StrEnum):
    local = "local"
    celery = "celery"


class SmtpSecurity(StrEnum):
    none = "none"
    starttls = "starttls"
    ssl = "ssl"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BROADSHEET_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path("data"), description="Where embedded mode keeps its files.")
    database_url: str = Field("", description="Metadata database; default SQLite in data_dir.")
    secret_key: str = Field(
        "", description="Encrypts credentials and signs links; default: generated in data_dir."
    )
    secret_keys: str = Field(
        "",
        description="Space-separated secret keys, newest first; replaces secret_key when set. "
        "The newest encrypts and signs; the older ones still open what they made.",
    )
    env: Literal["development", "production"] = Field(
        "development", description="production: refuse to start without a strong secret key."
    )
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = Field("", description="Base URL used in links; default http://host:port.")
    storage_url: str = Field("", description="Artifacts: file:///path; default data_dir/artifacts.")
    executor: Executor = Executor.local
    log_format: Literal["text", "json"] = Field(
        "text", description="text: readable lines; json: one JSON object a line."
    )
    broker_url: str = Field("redis://127.0.0.1:6379/0", description="Celery broker.")
    otel_endpoint: str = Field(
        "",
        description="OpenTelemetry collector (OTLP over HTTP, e.g. http://127.0.0.1:4318) that "
        "traces are sent to; empty: no tracing.",
    )
    otel_sample_ratio: float = Field(
        0.1,
        ge=0,
        le=1,
        description="The share of API and page requests traced (whole traces); scheduled "
        "fires and the jobs they start are always traced.",
    )
    local_workers: int = Field(4, ge=1, le=64, description="Job threads in embedded serve.")
    job_timeout_seconds: int = Field(900, ge=1, description="One run of a job, at most.")
    job_stale_after_seconds: int = Field(
        60, ge=2, description="A processing job silent this long was lost with its process."
    )
    job_max_attempts: int = Field(2, ge=1, le=10, description="Runs of a job in all.")
    heartbeat_seconds: float = Field(5.0, gt=0, description="How often a running job says so.")
    scheduler_tick_seconds: float = Field(5.0, gt=0, description="How often schedulers look.")
    scheduler_embedded: bool = Field(True, description="serve runs a scheduler too.")
    scheduler_connections: int = Field(
        2, ge=1, le=16, description="Transactions one tick fires due schedules in at once."
    )
    schedule_max_retries: int = Field(
        3, ge=0, le=20, description="Retries of a scheduled generation that failed."
    )
    schedule_retry_base_seconds: float = Field(
        60.0, ge=0, description="First retry delay; doubles each time (with jitter)."
    )
    result_retention_days: int = Field(30, ge=1, description="Results are deleted after this.")
    audit_retention_days: int = Field(
        365, ge=1, description="Audit entries are deleted after this (and only then)."
    )
    event_retention_days: int = Field(
        7, ge=1, description="Events (the feed and its pushes) are deleted after this."
    )
    maintenance_seconds: float = Field(
        10.0, gt=0, description="How often recovery and the retention sweep run."
    )
    # Delivery. With no SMTP host, email goes to data_dir/outbox as .eml files.
    smtp_host: str = Field("", description="SMTP server; empty: write .eml files to the outbox.")
    smtp_port: int = Field(0, ge=0, le=65535, description="Default 465 for ssl, else 587/25.")
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_security: SmtpSecurity = Field(SmtpSecurity.starttls, description="none|starttls|ssl")
    smtp_from: str = Field("Broadsheet <broadsheet@localhost>", description="From of emails.")
    slack_bot_token: str = Field("", description="Bot token for #channel and user recipients.")
    slack_api_url: str = Field("https://slack.com/api/", description="Slack Web API base.")
    s3_endpoint_url: str = Field("", description="S3-compatible endpoint; empty: AWS.")
    s3_allowed_buckets: list[str] = Field(
        default_factory=list,
        description="Buckets s3:// recipients may name (empty: any the credentials reach).",
    )
    webhook_allow_private: bool = Field(
        False, description="Allow webhook/Teams/Slack URLs on loopback and private networks."
    )
    webhook_allow_http: bool = Field(False, description="Allow plain-http webhook URLs.")
    delivery_timeout_seconds: float = Field(30.0, gt=0, description="One send, at most.")
    delivery_retry_base_seconds: float = Field(
        60.0, ge=0, description="First delivery retry delay; doubles each time (with jitter)."
    )
    delivery_max_attempts: int = Field(5, ge=1, le=20, description="Sends of a delivery in all.")
    attachment_max_bytes: int = Field(
        10 * 1024 * 1024, ge=0, description="Larger artifacts go out as a signed link."
    )
    artifact_link_days: int = Field(7, ge=1, le=90, description="Signed artifact links expire.")
    embed_allowed_origins: str = Field(
        "",
        description="Space-separated origins that may frame embedded dashboards "
        "(Content-Security-Policy frame-ancestors), e.g. https://app.example.com; empty: "
        "this service's own pages only.",
    )
    admin_email: str = Field("", description="Told of failures when an owner has no email.")
    bootstrap_admin_key: str = ""
    bootstrap_admin_email: str = ""
    bootstrap_admin_password: str = Field(
        "", description="With bootstrap_admin_email: that admin signs in to the web UI with it."
    )
    session_idle_minutes: int = Field(
        60, ge=1, le=7 * 24 * 60, description="A web session unused this long ends."
    )
    session_max_hours: int = Field(
        12, ge=1, le=30 * 24, description="A web session ends this long after sign-in."
    )
    default_tenant: str = Field(
        "demo",
        pattern=r"^[a-z0-9][a-z0-9-]{0,62}$",
        description="Tenant of the bootstrap key and demo data.",
    )
    demo: bool = Field(True, description="Create the demo data source and reports on start.")
    migrate_on_start: bool = Field(True, description="serve runs migrations before it listens.")
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Larger request bodies get 413.")
    # Requests and the metadata database, sized together: a request takes one of
    # db_pool_size connections before it uses a thread for the database, so no thread waits
    # for a connection that a request waiting for a thread holds.
    db_pool_size: int = Field(
        4, ge=1, le=500, description="Requests that use the metadata database at once."
    )
    db_max_overflow: int = Field(
        12,
        ge=0,
        le=500,
        description="More connections each pool (requests; background) opens when busy.",
    )
    db_pool_timeout_seconds: float = Field(
        5.0, gt=0, description="A request's wait for a connection; past it, 503 + Retry-After."
    )
    request_threads: int = Field(
        0, ge=0, le=1000, description="Threads that run request handlers; 0: twice db_pool_size."
    )
    # Python runs one thread of a process at a time: a second process serves requests on a
    # second core (a burst of API reads scales with them; see bench/api.py).
    serve_processes: int = Field(
        0,
        ge=0,
        le=64,
        description="Processes `serve` answers requests in; 0: one per core, 4 at most.",
    )
    file_source_dirs: list[Path] = Field(
        default_factory=list,
        description="Extra folders every tenant's SQLite/DuckDB sources may read.",
    )
    datasource_allowed_hosts: str = Field(
        "",
        description="Space-separated host names (*.example.com), addresses and CIDRs network "
        "data sources may connect to, checked on the resolved address; empty: any.",
    )

    metrics_token: str = Field(
        "",
        description="Bearer token /metrics (and --metrics-port) answers to; empty: no /metrics.",
    )
    # Rate limits (broadsheet.ratelimit) and per-tenant caps.
    rate_limit: str = Field(
        "600/minute", description="Requests per API key, session or address: N/second|minute|hour."
    )
    rate_limit_generate: str = Field(
        "60/minute",
        description="Generate, run now, exports, dashboard refresh and sign-in, also counted "
        "against rate_limit.",
    )
    redis_url: str = Field(
        "",
        description="Redis that every process counts rate limits in; empty: the broker when "
        "executor=celery on Redis, else each process in its own memory.",
    )
    tenant_max_running_jobs: int = Field(
        4, ge=1, le=10_000, description="Jobs of one tenant processing at once; the rest wait."
    )
    tenant_max_schedules: int = Field(
        1000, ge=0, le=10_000_000, description="Enabled schedules a tenant may have."
    )

    @field_validator("storage_url")
    @classmethod
    def _storage_url_known(cls, url: str) -> str:
        # Checked with the settings, so a bad one stops a command with one line at start.
        parsed = urlparse(url)
        if url and not (
            (parsed.scheme == "file" and parsed.path) or (parsed.scheme == "s3" and parsed.hostname)
        ):
            raise ValueError("use file:///path or s3://bucket/prefix")
        return url

    @field_validator("embed_allowed_origins")
    @classmethod
    def _origins_are_sources(cls, origins: str) -> str:
        # Each becomes part of a response header: nothing may end the directive early.
        for origin in origins.split():
            if not EMBED_ORIGIN.match(origin):
                raise ValueError(
                    f"{origin!r} is not an origin; use scheme://host[:port] (a leading *. "
                    "for subdomains), 'self' or 'none', separated by spaces"
                )
        return origins

    @field_validator("rate_limit", "rate_limit_generate")
    @classmethod
    def _rate_parses(cls, text: str) -> str:
        from broadsheet.ratelimit.rate import Rate

        Rate.parse(text)  # a bad budget stops the start, naming the setting
        return text

    @field_validator("datasource_allowed_hosts")
    @classmethod
    def _allowed_hosts_parse(cls, text: str) -> str:
        HostAllowlist.parse(text)  # a bad CIDR stops the start, not the first connection
        return text

    @model_validator(mode="after")
    def _secret_strong_in_production(self) -> Settings:
        # A weak or well-known key lets anyone forge links and decrypt stored credentials.
        if self.env == "production":
            secret_keys.check_production(self.secret_key, self.secret_keys)
        return self

    @model_validator(mode="after")
    def _heartbeat_fits(self) -> Settings:
        # A live job must be seen alive several times within the stale period, or recovery
        # would take it away from the process still running it.
        if self.heartbeat_seconds * 3 > self.job_stale_after_seconds:
            raise ValueError(
                "BROADSHEET_HEARTBEAT_SECONDS must be at most a third of "
                "BROADSHEET_JOB_STALE_AFTER_SECONDS"
            )
        return self

    @model_validator(mode="after")
    def _bootstrap_password_usable(self) -> Settings:
        # Refused at start, in one line, rather than leaving an admin who cannot sign in.
        if self.bootstrap_admin_password:
            if not self.bootstrap_admin_email:
                raise ValueError(
                    "BROADSHEET_BOOTSTRAP_ADMIN_PASSWORD needs BROADSHEET_BOOTSTRAP_ADMIN_EMAIL"
                )
            trouble = passwords.problem(self.bootstrap_admin_password)
            if trouble:
                raise ValueError(f"BROADSHEET_BOOTSTRAP_ADMIN_PASSWORD: {trouble}")
        return self

    @model_validator(mode="after")
    def _threads_fit_pool(self) -> Settings:
        # Fewer threads than connections would leave connections idle while requests queue.
        if self.request_threads and self.request_threads < self.db_pool_size:
            raise ValueError("BROADSHEET_REQUEST_THREADS must be at least BROADSHEET_DB_POOL_SIZE")
        return self

    @property
    def resolved_request_threads(self) -> int:
        # Twice the connections: every request holding one has a thread, and as many again
        # serve requests that need no database (health checks, bad input) without queueing.
        return self.request_threads or 2 * self.db_pool_size

    @property
    def resolved_serve_processes(self) -> int:
        return self.serve_processes or min(os.cpu_count() or 1, 4)

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'broadsheet.db').resolve()}"

    @property
    def resolved_storage_url(self) -> str:
        return self.storage_url or (self.data_dir / "artifacts").resolve().as_uri()

    @property
    def storage_bucket(self) -> str | None:
        """The bucket of an ``s3://`` storage URL: no s3 recipient may write into it."""
        url = self.resolved_storage_url
        if not url.startswith("s3://"):
            return None
        return url.removeprefix("s3://").partition("/")[0].lower()  # as urlparse gives it

    @property
    def sources_dir(self) -> Path:
        return (self.data_dir / "sources").resolve()

    @property
    def shared_sources_dir(self) -> Path:
        """File databases every tenant may read (the demo's)."""
        return self.sources_dir / "shared"

    def source_dirs_for(self, tenant_slug: str) -> list[Path]:
        """Where a tenant's SQLite/DuckDB sources may live: its own folder, the shared one, and
        the operator's ``BROADSHEET_FILE_SOURCE_DIRS``. Never another tenant's folder."""
        own = self.sources_dir / "tenants" / tenant_slug
        return [own, self.shared_sources_dir, *(p.resolve() for p in self.file_source_dirs)]

    @cached_property
    def resolved_secret_key(self) -> str:
        """The configured secret, or one generated once and kept in data_dir (mode 0600).

        A secret known to everyone encrypts nothing, so there is no built-in default; several
        processes of one deployment must share ``BROADSHEET_SECRET_KEY``.
        """
        if self.secret_keys.split():
            return self.secret_keys.split()[0]
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret.key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(48))
        return path.read_text().strip()

    @property
    def datasource_allowlist(self) -> HostAllowlist:
        """Where network data sources may connect (empty: anywhere)."""
        return HostAllowlist.parse(self.datasource_allowed_hosts)

    @property
    def resolved_secret_keys(self) -> tuple[str, ...]:
        """Every key, newest first: the newest encrypts and signs, each opens what it made."""
        return tuple(self.secret_keys.split()) or (self.resolved_secret_key,)

    @property
    def outbox_dir(self) -> Path:
        """Where email goes when no SMTP server is configured."""
        return (self.data_dir / "outbox").resolve()

    @property
    def embed_frame_ancestors(self) -> str:
        """The CSP ``frame-ancestors`` sources of embedded dashboards."""
        return " ".join(self.embed_allowed_origins.split()) or "'self'"

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")
