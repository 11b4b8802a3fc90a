"""`plico doctor` names what is missing and exits non-zero; on this machine's real setup it
exits 0. The web app's `/healthz` and `/readyz` (database, object store, broker; 503 when
one does not answer)."""

from __future__ import annotations

import os

from conftest import require_port
from fastapi.testclient import TestClient
from ops_testdata import plico

from pipeline.settings import Settings

REDIS = "redis://127.0.0.1:6379/15"
RABBIT = "amqp://guest:guest@127.0.0.1:5672/%2F"


def _reachable(port: int) -> None:
    require_port(f"the service on port {port}", port)


def test_doctor_on_the_real_setup_exits_0(tmp_path) -> None:
    _reachable(6379)
    _reachable(5672)
    assert plico(tmp_path / "data", "db", "upgrade").returncode == 0
    for broker in (REDIS, RABBIT):
        done = plico(tmp_path / "data", "doctor", PLICO_BROKER_URL=broker)
        assert done.returncode == 0, done.stdout + done.stderr
        for name in ("tesseract", "zbar", "cell model", "database", "object store", "broker"):
            assert f"ok      {name}:" in done.stdout


def test_doctor_names_what_is_missing(tmp_path) -> None:
    no_tesseract = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                                   if not os.path.exists(os.path.join(p, "tesseract")))
    done = plico(tmp_path / "data", "doctor", PATH=no_tesseract,
                 PLICO_BROKER_URL="redis://127.0.0.1:1/0")
    assert done.returncode == 1
    assert "MISSING tesseract: no tesseract on PATH" in done.stdout
    assert "apt-get install tesseract-ocr" in done.stdout
    assert "MISSING broker: redis://127.0.0.1:1/0 unreachable" in done.stdout
    assert "missing or unreachable: tesseract, broker" in done.stderr
    assert "ok      zbar:" in done.stdout


def test_healthz_and_readyz(tmp_path) -> None:
    from web.app import create_app

    _reachable(6379)
    ready = TestClient(create_app(Settings(data_dir=tmp_path / "data", broker_url=REDIS)))
    assert ready.get("/healthz").json() == {"status": "ok"}
    r = ready.get("/readyz")
    assert r.status_code == 200 and r.json()["checks"] == {
        "database": True, "object_store": True, "broker": True}
    down = TestClient(create_app(Settings(data_dir=tmp_path / "data",
                                          broker_url="redis://127.0.0.1:1/0")))
    assert down.get("/healthz").status_code == 200
    r = down.get("/readyz")
    assert r.status_code == 503 and r.json() == {"status": "not ready", "checks": {
        "database": True, "object_store": True, "broker": False}}
