"""docker/: the compose file names only settings that exist and runs only `plico` commands
that exist (with options the commands accept); the Dockerfile copies every package."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import typer.main
import yaml

from pipeline.cli import app
from pipeline.settings import Settings

DOCKER = Path(__file__).resolve().parent.parent / "docker"
ROOT = DOCKER.parent
SETTINGS = {f"PLICO_{name.upper()}" for name in Settings.model_fields}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text(encoding="utf-8"))


def _plico_services(compose: dict) -> dict[str, dict]:
    return {name: s for name, s in compose["services"].items()
            if s.get("image", "").startswith("plico")}


def test_every_plico_variable_is_a_setting(compose):
    named = set()
    for path in (DOCKER / "compose.yaml", DOCKER / "env.example"):
        named |= set(re.findall(r"\bPLICO_[A-Z0-9_]+", path.read_text(encoding="utf-8")))
    assert named, "the compose file configures Plico through PLICO_* settings"
    assert named <= SETTINGS, f"not settings of pipeline/settings.py: {sorted(named - SETTINGS)}"
    plico = _plico_services(compose)
    assert {"migrate", "worker", "web"} <= set(plico)
    for name, service in plico.items():
        env = service.get("environment", {})
        assert env and all(key in SETTINGS for key in env), (name, sorted(env))
        for key in ("PLICO_STORAGE_URL", "PLICO_DATABASE_URL", "PLICO_BROKER_URL"):
            assert key in env, (name, key)
        # the values are valid for the settings model (interpolations filled in)
        filled = {k[len("PLICO_"):].lower(): re.sub(r"\$\{[^}]+\}", "x", str(v))
                  for k, v in env.items()}
        Settings(**filled)


def _resolve(args: list[str]):
    # typer ships its own click: groups are recognised by their `commands`
    cmd = typer.main.get_command(app)
    used = 0
    while hasattr(cmd, "commands") and used < len(args) and args[used] in cmd.commands:
        cmd = cmd.commands[args[used]]
        used += 1
    assert not hasattr(cmd, "commands"), f"`plico {' '.join(args)}` is not a command"
    cmd.make_context(" ".join(["plico", *args[:used]]), list(args[used:]))  # options exist
    return cmd


def test_every_command_is_a_plico_command(compose):
    plico = _plico_services(compose)
    for name, service in plico.items():
        assert isinstance(service["command"], list), name
        _resolve(service["command"])
    services = set(compose["services"])
    volumes = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        deps = service.get("depends_on", {})
        assert set(deps) <= services, name
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            assert source in volumes, (name, source)


def test_dockerfile_installs_the_project_as_a_non_root_user():
    text = (DOCKER / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim-(bookworm|trixie)$", text, re.MULTILINE)
    for package in ("tesseract-ocr", "tesseract-ocr-ita", "tesseract-ocr-eng", "libzbar0"):
        assert re.search(rf"\s{re.escape(package)}(\s|$)", text), package
    copied = set(re.findall(r"^COPY (\S+) \./\S+$", text, re.MULTILINE))
    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"]["find"]["include"]
    packages = {p.rstrip("*") for p in include}
    assert packages <= copied, f"packages not copied into the image: {packages - copied}"
    assert all((ROOT / c).is_dir() for c in copied)
    ignore = (DOCKER / "Dockerfile.dockerignore").read_text(encoding="utf-8")
    assert all(f"!{c}/" in ignore for c in copied)
    user = re.findall(r"^USER (\S+)$", text, re.MULTILINE)
    assert user and user[-1] not in ("root", "0")
    assert 'ENTRYPOINT ["plico"]' in text
