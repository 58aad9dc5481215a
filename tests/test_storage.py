"""Both storage backends keep the same contract: the local folder, and an S3 bucket (the
emulator of tests/s3emulator.py, not AWS) read through a local cache."""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.app import create_app
from broadsheet.config import Settings
from broadsheet.errors import StorageUnavailable
from broadsheet.jobs.executors import make_executor
from broadsheet.jobs.maintenance import Maintenance
from broadsheet.kit import s3
from broadsheet.runtime import Runtime
from broadsheet.storage import Storage, make_storage
from broadsheet.storage.local import LocalStorage
from broadsheet.storage.s3 import S3Storage
from tests.factories import Tenancy
from tests.jobs.helpers import report_id, run

BUCKET = "broadsheet-artifacts"


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    if request.param == "local":
        yield LocalStorage(tmp_path / "artifacts")
        return
    endpoint: str = request.getfixturevalue("endpoint")
    request.getfixturevalue("s3").create_bucket(Bucket=BUCKET)
    client = s3.client(endpoint, 5.0)
    yield S3Storage(BUCKET, "tenant-data/", tmp_path / "cache", client)
    client.close()


def put(storage: Storage, key: str, data: bytes) -> None:
    source = storage.scratch_file(".bin")
    source.write_bytes(data)
    storage.put_file(key, source)
    assert not source.exists()  # moved, not copied


def test_put_read_size_exists(storage: Storage) -> None:
    put(storage, "results/r1/main.parquet", b"parquet bytes")
    assert storage.exists("results/r1/main.parquet")
    assert not storage.exists("results/r1/other.parquet")
    assert storage.size("results/r1/main.parquet") == 13
    assert storage.local_path("results/r1/main.parquet").read_bytes() == b"parquet bytes"
    with pytest.raises(FileNotFoundError):
        storage.local_path("results/r1/other.parquet")


def test_delete_and_list_prefixes(storage: Storage) -> None:
    for name in ("r1/main.parquet", "r1/exports/csv.csv", "r2/main.parquet"):
        put(storage, f"results/{name}", b"x")
    soon = datetime.now(UTC) + timedelta(minutes=5)
    assert sorted(storage.list_prefixes("results/", older_than=soon)) == [
        "results/r1/", "results/r2/"]  # fmt: skip
    assert storage.list_prefixes("results/", older_than=soon - timedelta(hours=1)) == []
    storage.delete_prefix("results/r1/")
    assert not storage.exists("results/r1/main.parquet")
    assert not storage.exists("results/r1/exports/csv.csv")
    assert storage.exists("results/r2/main.parquet")


@pytest.mark.parametrize("key", ["", "/etc/passwd", "../outside", "results/../../x", "a//b"])
def test_keys_cannot_leave_the_root(storage: Storage, key: str) -> None:
    with pytest.raises(ValueError, match="invalid storage key"):
        storage.exists(key)


def test_tidy_forgets_old_local_files(storage: Storage) -> None:
    put(storage, "results/r1/main.parquet", b"kept in the bucket")
    stale = storage.scratch_file(".tmp")
    fresh = storage.scratch_file(".tmp")  # a write in progress
    long_ago = time.time() - 3 * 86400
    os.utime(stale, (long_ago, long_ago))
    storage.tidy(datetime.now(UTC) - timedelta(days=1))
    assert not stale.exists() and fresh.exists()
    assert storage.local_path("results/r1/main.parquet").read_bytes() == b"kept in the bucket"


def test_s3_reads_through_its_cache(tmp_path: Path, endpoint: str, s3: Any) -> None:
    """Another machine (another cache) reads what this one wrote; an old copy is forgotten
    (and its empty folder), a recent one kept, and a forgotten one comes back on reading."""
    s3.create_bucket(Bucket=BUCKET)
    writer = S3Storage(BUCKET, "", tmp_path / "one", s3)
    reader = S3Storage(BUCKET, "", tmp_path / "two", s3)
    put(writer, "results/r1/main.parquet", b"shared")
    put(writer, "results/r2/main.parquet", b"recent")
    assert s3.get_object(Bucket=BUCKET, Key="results/r1/main.parquet")["Body"].read() == b"shared"
    copy = reader.local_path("results/r1/main.parquet")
    recent = reader.local_path("results/r2/main.parquet")
    assert copy.read_bytes() == b"shared" and copy.is_relative_to(tmp_path / "two")
    long_ago = time.time() - 3 * 86400
    os.utime(copy, (long_ago, long_ago))
    assert reader.tidy(datetime.now(UTC) - timedelta(days=1)) == 1
    assert not copy.exists() and not copy.parent.exists() and recent.exists()
    assert reader.local_path("results/r1/main.parquet").read_bytes() == b"shared"


def test_s3_trouble_is_a_503_not_a_crash(tmp_path: Path, fake_aws: None) -> None:
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    client = s3.client(f"http://127.0.0.1:{port}", 1.0, attempts=1)
    storage = S3Storage(BUCKET, "", tmp_path / "cache", client)
    for call in (lambda: storage.exists("results/r/main.parquet"),
                 lambda: storage.local_path("results/r/main.parquet")):  # fmt: skip
        with pytest.raises(StorageUnavailable) as raised:
            call()
        assert raised.value.status == 503
    assert list((tmp_path / "cache" / ".scratch").iterdir()) == []  # no download left behind
    client.close()


def test_a_report_generated_and_exported_on_s3_storage(
    tmp_path: Path,
    endpoint: str,
    s3: Any,
    settings: Settings,
    sessions: sessionmaker[Session],
) -> None:
    s3.create_bucket(Bucket=BUCKET)
    on_s3 = settings.model_copy(
        update={
            "storage_url": f"s3://{BUCKET}/prod",
            "s3_endpoint_url": endpoint,
            "data_dir": tmp_path,
        }
    )
    assert isinstance(make_storage(on_s3), S3Storage)
    tenancy = Tenancy(sessions, on_s3)
    tenancy.demo("acme")
    admin = tenancy.key("acme")
    with TestClient(create_app(on_s3, prepare=False)) as client:
        rid = report_id(client, admin, "Strategy Scorecard")
        job = run(client, admin, rid, {"startDate": "2024-01-01", "endDate": "2024-03-31"})
        assert job["status"] == "completed", job
        # As on another machine: nothing cached here, so the export reads from the bucket.
        shutil.rmtree(tmp_path / "cache" / "storage" / "results")
        exported = client.get(
            f"/api/v1/reports/results/{job['resultId']}/export?format=csv", headers=admin.headers
        )
    assert exported.status_code == 200 and exported.content.startswith(b'"strategy"')
    names = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    result = f"prod/results/{job['resultId']}/"
    assert f"{result}main.parquet" in names
    assert any(n.startswith(f"{result}exports/csv") for n in names)


def test_maintenance_sweeps_old_scratch_files(runtime: Runtime) -> None:
    """Files a process left in the scratch folder when it died go after a day, not before."""
    stale = runtime.storage.scratch_file(".xlsx")
    fresh = runtime.storage.scratch_file(".xlsx")  # an export being written now
    hours_ago = time.time() - 25 * 3600
    os.utime(stale, (hours_ago, hours_ago))
    Maintenance(runtime, make_executor(runtime)).run_once()
    assert not stale.exists() and fresh.exists()
    fresh.unlink()
