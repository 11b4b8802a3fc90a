"""Workers on real services: Redis, RabbitMQ, PostgreSQL, an S3 server (`weed mini`), and
real worker processes killed, brokers restarted, storage and database made unreachable.

After each: every page of every input is in exactly one kit record or in quarantine with a
reason (`pipeline.process.account_pages`), and each kit has exactly one record version.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import _unavailable
from sqlalchemy import func, select
from tcp_proxy import TcpProxy

from pipeline.process import account_pages, open_runtime, submit_batch
from pipeline.scale_bench import WorkerProcs, wait_batch
from pipeline.settings import Settings
from sample_scans.synth.batch import SynthOptions, write_batch
from storage import db

pytestmark = pytest.mark.slow

REDIS = os.environ.get("PLICO_TEST_REDIS", "redis://127.0.0.1:6379/0")
RABBIT = os.environ.get("PLICO_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672/%2F")
PLICO = str(Path(sys.executable).with_name("plico"))


def _redis_up(url: str) -> None:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.exceptions.RedisError as exc:
        _unavailable(f"Redis ({type(exc).__name__})")


def _rabbit_up(url: str) -> None:
    import pika

    try:
        pika.BlockingConnection(pika.URLParameters(url)).close()
    except pika.exceptions.AMQPError as exc:
        _unavailable(f"RabbitMQ ({type(exc).__name__})")


@pytest.fixture(scope="module")
def one_kit(tmp_path_factory) -> Path:
    """One typed kit at 200 dpi, bitonal (about 16 pages): the smallest real batch."""
    out = tmp_path_factory.mktemp("one-kit")
    return write_batch(SynthOptions(seed=5101, kits=1, dpi=200, filled_by="typed",
                                    mode="bitonal"), out).files[0]


class Deployment:
    """One test's Plico: its own queue, data folder, index and store; real worker processes."""

    def __init__(self, tmp: Path, broker: str, database_url: str, storage_url: str | None = None,
                 **settings) -> None:
        self.queue = f"plico_t{secrets.token_hex(4)}"
        self.values = {"data_dir": tmp / "data", "broker_url": broker, "queue_name": self.queue,
                       "database_url": database_url, "storage_url": storage_url,
                       "worker_poll_ms": 100, "retry_backoff_ms": (200, 2000), "max_retries": 40,
                       **settings}
        self.settings = Settings(**self.values)
        self.rt = open_runtime(self.settings)
        self.procs = WorkerProcs(self.env(), tmp / "logs")

    def env(self, **override) -> dict[str, str]:
        env = dict(os.environ)
        for key, value in {**self.values, **override}.items():
            if value is None:
                env.pop(f"PLICO_{key.upper()}", None)
            elif isinstance(value, tuple):
                env[f"PLICO_{key.upper()}"] = "[" + ",".join(map(str, value)) + "]"
            else:
                env[f"PLICO_{key.upper()}"] = str(value)
        return env

    def submit(self, path: Path) -> str:
        from pipeline.workers import enqueue_batch, setup

        setup(self.settings)
        batch_id = submit_batch(self.rt, path).batch_id
        enqueue_batch(self.rt, batch_id)
        return batch_id

    def wait_job(self, batch_id: str, kind: str, status: str, timeout: float = 180) -> db.Job:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.rt.session() as s:
                job = s.scalar(select(db.Job).where(db.Job.batch_id == batch_id,
                                                    db.Job.kind == kind, db.Job.status == status))
            if job is not None:
                return job
            time.sleep(0.05)
        raise TimeoutError(f"no {kind} job {status} in {timeout} s:\n{self.procs.logs()[-3000:]}")

    def finish(self, batch_id: str, timeout: float = 240) -> None:
        try:
            assert wait_batch(self.rt, batch_id, timeout) == "done"
        except TimeoutError:
            pytest.fail(f"batch not done:\n{self.procs.logs()[-4000:]}")

    def check(self, batch_id: str, kits: int) -> None:
        """Nothing lost, nothing twice."""
        assert account_pages(self.rt, batch_id) == []
        with self.rt.session() as s:
            batch = s.get(db.Batch, batch_id)
            assert batch.kits == kits and batch.pages > 0
            for kit in s.scalars(select(db.Kit).where(db.Kit.batch_id == batch_id)):
                versions = s.scalar(select(func.count()).select_from(db.RecordVersion)
                                    .where(db.RecordVersion.kit_id == kit.id))
                assert versions == 1, kit.id
                row = s.get(db.RecordVersion, kit.current_version_id)
                assert self.rt.store.exists(row.record_key)
            open_jobs = s.scalar(select(func.count()).select_from(db.Job).where(
                db.Job.batch_id == batch_id, db.Job.status != "done"))
            assert open_jobs == 0

    def close(self) -> None:
        import contextlib

        from pipeline.workers import purge_queues

        self.procs.stop()
        with contextlib.suppress(Exception):  # a broker of the test's own may be gone
            purge_queues(self.settings)


@pytest.fixture
def own_pg(pg_url):
    """A database of the test's own on the session's PostgreSQL server: a deployment is its
    index and its store together (the same file submitted by two tests must not find the
    other test's batch, whose objects are in the other test's store)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from storage.db import engine_for

    name = f"plico_w{secrets.token_hex(4)}"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    yield url
    engine_for(url).dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def deploy(tmp_path):
    made = []

    def make(*args, **kwargs) -> Deployment:
        made.append(Deployment(tmp_path / f"d{len(made)}", *args, **kwargs))
        return made[-1]

    yield make
    for d in made:
        d.close()


@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_kill9_mid_kit_completes_on_another_worker(broker, own_pg, deploy, one_kit):
    """The kit's worker is killed (SIGKILL) while reading it: the message was not acknowledged,
    the broker gives it to the other worker (RabbitMQ when the dead connection closes, Redis
    when the dead worker's heartbeat is older than worker_heartbeat_s), within 10 s with the
    default settings (the idle worker polls every second, as PLICO_WORKER_POLL_MS defaults),
    and the kit is stored once."""
    url = REDIS if broker == "redis" else RABBIT
    (_redis_up if broker == "redis" else _rabbit_up)(url)
    d = deploy(url, own_pg, worker_poll_ms=1000)
    d.procs.start(2)
    batch_id = d.submit(one_kit)
    job = d.wait_job(batch_id, "kit", "running")
    reader = next(i for i in range(2) if f"reading (job {job.id})" in
                  d.procs.log(i).read_text(errors="replace"))
    d.procs.kill(reader)
    killed = time.monotonic()
    while True:
        with d.rt.session() as s:
            attempts = s.get(db.Job, job.id).attempts
        if attempts >= 2:  # the other worker has it
            break
        assert time.monotonic() - killed < 120, d.procs.logs()[-3000:]
        time.sleep(0.05)
    redelivered = time.monotonic() - killed
    print(f"{broker}: the kit redelivered {redelivered:.1f} s after kill -9")
    assert redelivered <= 10
    d.finish(batch_id)
    d.check(batch_id, kits=1)


def test_redis_restart_mid_batch(own_pg, deploy, one_kit, tmp_path):
    """A Redis of our own (append-only file, fsync always) is shut down while pages are being
    prepared and started again 2 s later on the same port and data: the workers reconnect,
    messages sent while it was down are sent again, nothing is lost."""
    server = shutil.which("redis-server")
    if server is None:
        _unavailable("redis-server")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = tmp_path / "redis"
    data.mkdir()
    args = [server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data),
            "--appendonly", "yes", "--appendfsync", "always", "--save", ""]

    def start() -> subprocess.Popen:
        """Start the server and wait until it answers (the wait must not go through
        `_redis_up`: under CI=true its first refusal would fail the test at once)."""
        import redis

        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=2)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                return proc
            except redis.exceptions.RedisError as exc:
                if time.monotonic() > deadline:
                    _unavailable(f"Redis of the test ({type(exc).__name__})")
                time.sleep(0.1)

    proc = start()
    d = deploy(f"redis://127.0.0.1:{port}/0", own_pg)
    try:
        d.procs.start(2)
        batch_id = d.submit(one_kit)
        d.wait_job(batch_id, "pages", "done")
        proc.terminate()  # SIGTERM: Redis flushes the append-only file and exits
        proc.wait(timeout=20)
        time.sleep(2)
        proc = start()
        d.finish(batch_id)
        d.check(batch_id, kits=1)
        _reprocess_on_workers(d, batch_id, tmp_path)
    finally:
        d.procs.stop()
        proc.terminate()
        proc.wait(timeout=20)


def test_rabbitmq_connections_dropped_mid_batch(own_pg, deploy, one_kit):
    """The system RabbitMQ cannot be restarted from a test (other users share it); the
    workers (`plico worker --processes 2`, the batch sent by `plico submit`) reach it through
    a TCP proxy that drops every connection and refuses new ones for
    3 s while kits are being read: unacknowledged messages are redelivered, the workers
    reconnect, nothing is lost or stored twice."""
    _rabbit_up(RABBIT)
    proxy = TcpProxy(("127.0.0.1", 5672))
    proxy.start()
    try:
        d = deploy(f"amqp://guest:guest@{proxy.address}/%2F", own_pg)
        d.procs.start_cli(2)  # `plico worker --processes 2`
        res = subprocess.run([PLICO, "submit", str(one_kit)], env=d.env(), capture_output=True,
                             text=True, timeout=120, check=False)
        assert res.returncode == 0, res.stderr
        batch_id = res.stdout.split()[0]
        d.wait_job(batch_id, "pages", "done")
        proxy.stop()
        time.sleep(3)
        proxy.start()
        d.finish(batch_id)
        d.check(batch_id, kits=1)
        again = subprocess.run([PLICO, "submit", str(one_kit)], env=d.env(), capture_output=True,
                               text=True, timeout=120, check=False)  # the same file again
        assert again.stdout == f"{batch_id}\t{one_kit.stem}\talready read: 1 kits\n", again.stderr
    finally:
        proxy.stop()


def test_s3_restart_and_database_outage(own_pg, deploy, one_kit, s3_server):
    """The S3 server is stopped while pages are being prepared and started again 3 s later;
    then PostgreSQL becomes unreachable (a TCP proxy refusing connections) while the kit is
    read, until its worker has failed to store the record: transient faults, retried with
    backoff; all work completes."""
    _redis_up(REDIS)
    from sqlalchemy.engine import make_url

    from storage.store_url import store_from_url

    bucket = f"plico-t{secrets.token_hex(4)}"
    store_from_url(s3_server.url(bucket), Path()).ensure_bucket()
    pg = make_url(own_pg)
    proxy = TcpProxy((pg.host, pg.port or 5432))
    proxy.start()
    try:
        proxied = pg.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        d = deploy(REDIS, proxied, storage_url=s3_server.url(bucket))
        d.procs.start(2)
        batch_id = d.submit(one_kit)
        d.wait_job(batch_id, "pages", "running")
        s3_server.stop()
        time.sleep(3)
        s3_server.start()
        d.wait_job(batch_id, "kit", "running")
        proxy.stop()  # until the kit's worker has met the outage (storing the record)
        deadline = time.monotonic() + 120
        while "transient OperationalError, retried" not in d.procs.logs():
            assert time.monotonic() < deadline, d.procs.logs()[-3000:]
            time.sleep(0.2)
        time.sleep(1)
        proxy.start()
        d.finish(batch_id)
        d.check(batch_id, kits=1)
        assert re.search(r"S3 \w+ of \S+ failed \(NewConnectionError\)", d.procs.logs())
    finally:
        proxy.stop()


def test_worker_and_submit_need_a_broker(tmp_path):
    env = {**os.environ, "PLICO_DATA_DIR": str(tmp_path)}
    env.pop("PLICO_BROKER_URL", None)
    for args in (["worker"], ["submit", str(tmp_path)]):
        res = subprocess.run([PLICO, *args], env=env, capture_output=True, text=True, timeout=60,
                             check=False)
        assert res.returncode == 9, res.stderr  # ExitCode.CONFIG
        assert "PLICO_BROKER_URL" in res.stderr


def _reprocess_on_workers(d: Deployment, batch_id: str, tmp_path: Path) -> None:
    """A new pipeline version is deployed (workers restarted with it) and the batch is read
    again through the broker: a second record version, the first kept."""
    from storage.index import versions_of

    d.procs.stop()
    env = d.env(pipeline_version="0.2.0")
    d.procs = WorkerProcs(env, tmp_path / "logs-0.2.0")
    d.procs.start(1)
    dry = subprocess.run([PLICO, "reprocess", "--batch", batch_id, "--dry-run"], env=env,
                         capture_output=True, text=True, timeout=120, check=False)
    assert "1 kits to read under version 0.2.0" in dry.stdout, dry.stderr
    res = subprocess.run([PLICO, "reprocess", "--batch", batch_id], env=env,
                         capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr
    assert "progress: done 1" in res.stdout
    with d.rt.session() as s:
        kit_id = s.scalar(select(db.Kit.id).where(db.Kit.batch_id == batch_id))
        assert versions_of(s, kit_id) == ["0.1.0", "0.2.0"]
    assert account_pages(d.rt, batch_id) == []


def test_permanent_faults_are_quarantined_and_shown(tmp_path):
    """In-process workers on dramatiq's StubBroker (PLICO_BROKER_URL unset): unreadable inputs
    and a page before any kit go to quarantine with their reasons at once (no retry), and a
    kit that cannot be read (what preparing its page found is gone from the store) is
    quarantined, not retried; `plico status` shows all of it."""
    import dramatiq
    import numpy as np
    from PIL import Image
    from plico_testdata import PASSPORT

    from pipeline.pagestore import page_meta_key
    from pipeline.workers import enqueue_batch, setup
    from sample_scans.synth import documents

    folder = tmp_path / "batch"
    folder.mkdir()
    (folder / "a-corrupt.pdf").write_bytes(b"%PDF-1.4\n1 0 obj\n<<>>\n")
    (folder / "b-notes.pdf").write_text("not a pdf at all")
    # a multi-page TIFF cut off inside its directory chain (Pillow raised TypeError, which
    # failed the whole batch: the files after it were never read)
    sample = Path(__file__).resolve().parent.parent / "sample_scans" / "typed-300dpi-bitonal.tif"
    (folder / "b-truncated.tif").write_bytes(sample.read_bytes()[:137_064])
    passport, _ = documents.passport_copy(PASSPORT, 150, np.random.default_rng(3))
    Image.fromarray(passport).save(folder / "c-orphan.png", dpi=(150, 150))
    settings = Settings(data_dir=tmp_path / "data", queue_name=f"plico_t{secrets.token_hex(4)}",
                        worker_poll_ms=50, retry_backoff_ms=(50, 200))
    rt = open_runtime(settings)
    acts = setup(settings)
    worker = dramatiq.Worker(acts.broker, worker_threads=1, worker_timeout=50)
    worker.start()
    try:
        batch_id = submit_batch(rt, folder).batch_id
        enqueue_batch(rt, batch_id)
        acts.broker.join(settings.queue_name, timeout=120_000)
        worker.join()
        assert wait_batch(rt, batch_id, 30) == "done"
        assert account_pages(rt, batch_id) == []
        with rt.session() as s:
            items = {q.original_name: q for q in s.scalars(select(db.QuarantineItem))}
            jobs = s.scalars(select(db.Job)).all()
        assert items["a-corrupt.pdf"].code == "InputError" and items["a-corrupt.pdf"].pages is None
        assert items["b-notes.pdf"].code == "UnsupportedInputError"
        cut = items["b-truncated.tif"]
        assert (cut.code, cut.pages) == ("InputError", None)
        assert cut.reason == ("b-truncated.tif: corrupt TIFF directory chain "
                              "(TypeError: Missing dimensions)")
        assert items["c-orphan.png"].code == "OrphanPageError" and items["c-orphan.png"].pages == [0]
        assert all(j.status == "done" and j.attempts == 1 for j in jobs)

        # a kit whose page's metadata is gone: ObjectNotFoundError is permanent, quarantined
        # at once (the page is a passport copy: its pixels are not read, its metadata is)
        sha = items["c-orphan.png"].sha256
        kit_id = f"{batch_id}-0001"
        rt.store.put(f"kits/{kit_id}/pages.json", json.dumps(
            {"kit_id": kit_id, "batch_id": batch_id, "number": 1, "assicurata": None,
             "codice_istanza": None, "pages": [{"sha256": sha, "index": 0, "owner": ""}]}).encode())
        meta = rt.store.get(page_meta_key(sha, 0))
        rt.store.path_of(page_meta_key(sha, 0)).unlink()
        with rt.session() as s:
            s.add(db.Kit(id=kit_id, batch_id=batch_id, number=1))
        from pipeline.workers import enqueue_kits

        (job_id,) = enqueue_kits(rt, [kit_id])
        acts.broker.join(settings.queue_name, timeout=60_000)
        worker.join()
    finally:
        worker.stop()
    with rt.session() as s:
        job = s.get(db.Job, job_id)
        assert (job.status, job.attempts) == ("quarantined", 1)
        assert job.error.startswith("ObjectNotFoundError")
    env = {**os.environ, "PLICO_DATA_DIR": str(settings.data_dir)}
    env.pop("PLICO_BROKER_URL", None)
    res = subprocess.run([PLICO, "status", "--batch", batch_id], env=env, capture_output=True,
                         text=True, timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    assert "a-corrupt.pdf (all pages) InputError" in res.stdout
    assert "c-orphan.png (pages 1) OrphanPageError: page belongs to no kit" in res.stdout
    assert f"quarantined kit {kit_id}: ObjectNotFoundError" in res.stdout
    assert f"kit {kit_id} could not be read: ObjectNotFoundError" in res.stdout

    # the page is back: read again (in this process, no broker), the kit leaves quarantine
    from pipeline.reprocess import reprocess_kits

    rt.store.put(page_meta_key(sha, 0), meta, content_type="application/json")
    assert reprocess_kits(rt, [kit_id], echo=lambda line: None) == {"done": 1}
    with rt.session() as s:
        reasons = [q.reason for q in s.scalars(select(db.QuarantineItem))]
    assert not any(r.startswith(f"kit {kit_id}") for r in reasons) and len(reasons) == 4


def test_transient_fault_outlasting_retries_fails_the_job(tmp_path, s3_server):
    """The object store stays unreachable (a TCP proxy in front of the S3 server, stopped):
    the batch message is retried `max_retries` times with backoff, then its job and the batch
    are failed, and `plico status` shows it."""
    import dramatiq

    from pipeline.jobstatus import status_report
    from pipeline.workers import enqueue_batch, setup
    from storage.store_url import store_from_url

    bucket = f"plico-t{secrets.token_hex(4)}"
    store_from_url(s3_server.url(bucket), Path()).ensure_bucket()
    host, port = s3_server.endpoint.split(":")
    proxy = TcpProxy((host, int(port)))
    proxy.start()
    url = s3_server.url(bucket, retries="0").replace(s3_server.endpoint, proxy.address)
    settings = Settings(data_dir=tmp_path / "data", storage_url=url, max_retries=2,
                        queue_name=f"plico_t{secrets.token_hex(4)}", retry_backoff_ms=(50, 100))
    rt = open_runtime(settings)
    (tmp_path / "empty").mkdir()
    batch_id = submit_batch(rt, tmp_path / "empty").batch_id  # a batch of no input
    proxy.stop()
    acts = setup(settings)
    worker = dramatiq.Worker(acts.broker, worker_threads=1, worker_timeout=50)
    worker.start()
    try:
        enqueue_batch(rt, batch_id)
        acts.broker.join(settings.queue_name, timeout=60_000, fail_fast=False)
        worker.join()
    finally:
        worker.stop()
    with rt.session() as s:
        job = s.scalar(select(db.Job).where(db.Job.batch_id == batch_id))
        assert (job.status, job.attempts) == ("failed", 3)
        assert s.get(db.Batch, batch_id).status == "failed"
    assert "failed batch" in status_report(rt, batch_id)
