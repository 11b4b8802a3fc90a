"""Prometheus metrics: a real worker (`plico worker --metrics-port`, Redis broker) reads the
smallest sample scan submitted with `plico submit`, and its /metrics shows the pipeline's
series (its log, PLICO_LOG_FORMAT=json, is one JSON object per line with the ids); the web
app's /metrics answers only with the token and times requests by route."""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time

import json

import httpx
from conftest import require_port
from fastapi.testclient import TestClient
from ops_testdata import ROOT, SMALLEST_SCAN, plico, plico_env

from pipeline.settings import Settings

REDIS = "redis://127.0.0.1:6379/14"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _value(text: str, series: str) -> float:
    found = re.search(rf"^{re.escape(series)} ([0-9.e+]+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def test_worker_metrics_after_a_small_job(tmp_path) -> None:
    require_port("Redis", 6379)
    data, port = tmp_path / "data", _free_port()
    extra = {"PLICO_BROKER_URL": REDIS, "PLICO_QUEUE_NAME": f"metrics-{secrets.token_hex(4)}",
             "PLICO_WORKER_POLL_MS": "100", "PLICO_LOG_FORMAT": "json", "PLICO_LOG_LEVEL": "INFO"}
    log = (tmp_path / "worker.log").open("w")
    assert plico(data, "db", "upgrade", **extra).returncode == 0
    worker = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "worker", "--metrics-port",
                               str(port)], cwd=ROOT, env=plico_env(data, **extra),
                              stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    try:
        done = plico(data, "submit", str(SMALLEST_SCAN), **extra)
        assert done.returncode == 0, done.stderr
        deadline, text = time.monotonic() + 300, ""
        while time.monotonic() < deadline:
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-2000:]
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            except httpx.TransportError:
                text = ""
            if _value(text, "plico_kits_total") >= 1 and _value(text, "plico_queue_depth") == 0:
                break
            time.sleep(1)
        assert _value(text, "plico_kits_total") == 1, text[-3000:]
        assert _value(text, "plico_pages_total") == 13
        assert _value(text, "plico_inputs_total") in (0, 1)  # stored by `plico submit`
        assert _value(text, 'plico_step_seconds_count{step="read"}') == 1
        assert _value(text, 'plico_fields_total{status="accepted"}') > 50
        assert re.search(r'^plico_anomalies_total\{code="[a-z_]+"\} 1.0$', text, re.M)
        assert 'plico_jobs{kind="kit",status="done"} 1.0' in text
        for series in ("plico_job_retries 0.0", "plico_job_failures 0.0", "plico_index_up 1.0"):
            assert series in text
        assert "GUPTA" not in text and "846644948328" not in text  # no personal data
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
        log.close()
    lines = [json.loads(line) for line in (tmp_path / "worker.log").read_text().splitlines()]
    kit_lines = [x for x in lines if x.get("kit_id")]
    assert kit_lines and all(x["batch_id"] == x["kit_id"][:-5] for x in kit_lines)
    assert {"ts", "level", "logger", "msg"} <= set(lines[0])
    assert not any("GUPTA" in x["msg"] or "RAJESH" in x["msg"] for x in lines)


def test_web_metrics_need_the_token(tmp_path) -> None:
    from web.app import create_app

    closed = TestClient(create_app(Settings(data_dir=tmp_path / "data")))
    assert closed.get("/metrics").status_code == 404
    client = TestClient(create_app(Settings(data_dir=tmp_path / "data", metrics_token="s3cret")))
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    client.get("/healthz")
    client.get("/istanza/123456789012")  # a code in the path never becomes a label
    r = client.get("/metrics", headers={"Authorization": "Bearer s3cret"})
    assert r.status_code == 200
    assert 'plico_http_request_seconds_count{method="GET",route="/healthz",status="2xx"}' in r.text
    assert "123456789012" not in r.text
    assert "plico_queue_depth 0.0" in r.text
