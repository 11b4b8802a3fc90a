"""`plico users ...` and `plico serve`: the main paths as real processes, the refusals through
typer's runner in-process (each `plico` start costs a second or more on a loaded machine)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

PLICO = [sys.executable, "-m", "pipeline.cli"]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLICO_")}
    return {**env, "PLICO_DATA_DIR": str(tmp_path / "data"), **extra}


def _run(args: list[str], env: dict, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(PLICO + args, check=False, input=stdin, env=env, capture_output=True,
                          text=True, timeout=60)


def test_users_add_passwd_disable_list(tmp_path) -> None:
    env = _env(tmp_path)
    r = _run(["users", "add", "rev1", "--role", "reviewer", "--questura", "mi",
              "--questura", "RM", "--password-stdin"], env, "a long password\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "created rev1 (reviewer, MI RM)"
    assert "a long password" not in r.stdout + r.stderr
    r = _run(["users", "passwd", "rev1", "--password-stdin"], env, "second password\n")
    assert r.returncode == 0 and r.stdout.strip() == "password of rev1 changed"
    assert _run(["users", "disable", "rev1"], env).stdout.strip() == "rev1 disabled"
    listed = _run(["users", "list"], env)
    assert listed.stdout.splitlines() == ["rev1\treviewer\tMI RM\tinactive"]
    # the data folder and the database: the owner's only
    data = tmp_path / "data"
    assert data.stat().st_mode & 0o777 == 0o700
    for name in ("plico.db", "plico.db-wal", "plico.db-shm"):
        if (data / name).exists():
            assert (data / name).stat().st_mode & 0o777 == 0o600, name

    from fastapi.testclient import TestClient

    from pipeline.settings import Settings
    from web.app import create_app

    c = TestClient(create_app(Settings(data_dir=tmp_path / "data")))
    assert c.post("/api/login", json={"name": "rev1", "password": "second password"}
                  ).status_code == 401  # disabled


@pytest.fixture
def runner(tmp_path, monkeypatch):
    """typer's runner on the real `plico` app, settings from this test's environment."""
    from pipeline.settings import get_settings

    for key in [k for k in os.environ if k.startswith("PLICO_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("PLICO_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_users_commands_refuse_bad_input(runner) -> None:
    from pipeline.cli import app

    def run(*args: str, stdin: str = "a long password\n"):
        return runner.invoke(app, list(args), input=stdin)

    assert run("users", "add", "ops9", "--role", "ops", "--password-stdin").exit_code == 0
    cases = [
        (("users", "add", "ops9", "--role", "ops", "--password-stdin"), "exists"),
        (("users", "add", "boss", "--role", "chief", "--password-stdin"), "role"),
        (("users", "add", "rev9", "--role", "reviewer", "--password-stdin"), "questura"),
        (("users", "add", "rev9", "--role", "reviewer", "--questura", "Milano",
          "--password-stdin"), "province"),
        (("users", "add", "rev9", "--role", "reviewer", "--questura", "XX",
          "--password-stdin"), "not XX"),
        (("users", "passwd", "nobody", "--password-stdin"), "no user"),
        (("users", "disable", "nobody"), "no user"),
    ]
    for args, why in cases:
        r = run(*args)
        assert r.exit_code == 2 and why in r.output, (args, r.output)
    short = run("users", "add", "ops8", "--role", "ops", "--password-stdin", stdin="short\n")
    assert short.exit_code == 2 and "8 characters" in short.output


def test_serve_answers_and_keeps_lookup_codes_out_of_its_log(tmp_path) -> None:
    env = _env(tmp_path, PLICO_LOG_LEVEL="INFO")
    assert _run(["users", "add", "ops1", "--role", "ops", "--password-stdin"], env,
                "a long password\n").returncode == 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (tmp_path / "serve.log").open("w+")
    proc = subprocess.Popen(PLICO + ["serve", "--host", "127.0.0.1", "--port", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/login").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, "serve did not start"
            time.sleep(0.2)
        with httpx.Client(base_url=base) as c:
            r = c.post("/api/login", json={"name": "ops1", "password": "a long password"})
            assert r.status_code == 200 and r.json()["role"] == "ops"
            assert c.get("/api/queue").json()["total"] == 0
            assert c.get("/api/status/987654321098").json()["colour"] == "red"
            assert c.get("/stato", params={"codice": "987654321098"}).status_code == 200
    finally:
        proc.terminate()
        proc.wait(10)
    log.seek(0)
    text = log.read()
    assert "GET /api/queue" in text  # the access log is on at INFO
    assert "987654321098" not in text
    assert (tmp_path / "data" / "web-secret").stat().st_mode & 0o077 == 0
