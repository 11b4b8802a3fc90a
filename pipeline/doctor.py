"""`plico doctor`: is everything Plico needs here? And the readiness checks of the web app's
`/readyz` (web/health.py): the database, the object store and the broker.

Each check returns a `Check`: its name, whether it passed, what was found, and (when it did
not pass) how to fix it. `plico doctor` prints one line per check and exits 1 when any failed.
Nothing is created or migrated: the checks only look.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import typer

from pipeline.errors import PlicoError
from pipeline.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
CELL_MODEL = ROOT / "extractors" / "models" / "cellnet.onnx"
LANGUAGES = ("ita", "eng")
SERVICE_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    found: str
    fix: str = ""

    def line(self) -> str:
        mark = "ok     " if self.ok else "MISSING"
        fix = "" if self.ok else f"\n        fix: {self.fix}"
        return f"{mark} {self.name}: {self.found}{fix}"


def _where(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def check_tesseract(_settings: Settings) -> Check:
    exe = shutil.which("tesseract")
    fix = "apt-get install tesseract-ocr tesseract-ocr-ita tesseract-ocr-eng (scripts/setup.sh)"
    if exe is None:
        return Check("tesseract", False, "no tesseract on PATH", fix)
    try:
        done = subprocess.run([exe, "--list-langs"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check("tesseract", False, f"{exe} does not run ({type(exc).__name__})", fix)
    langs = {line.strip() for line in done.stdout.splitlines()[1:]}
    missing = [lang for lang in LANGUAGES if lang not in langs]
    if missing:
        return Check("tesseract", False, f"{exe}: language data missing: {', '.join(missing)}",
                     "apt-get install " + " ".join(f"tesseract-ocr-{m}" for m in missing))
    from extractors import tesseract

    try:
        engine = tesseract.engine()
        version = tesseract.version()
    except (ValueError, PlicoError) as exc:
        return Check("tesseract", False, str(exc), "PLICO_TESSERACT_ENGINE=api or cli, or "
                     "pip install tesserocr")
    how = f"{version} in process" if engine == "api" else f"the program ({version}), pytesseract"
    return Check("tesseract", True, f"{exe} ({', '.join(LANGUAGES)}); reads with {how}")


def check_zbar(_settings: Settings) -> Check:
    try:
        from pyzbar import pyzbar  # loads libzbar
    except (ImportError, OSError) as exc:
        return Check("zbar", False, f"pyzbar cannot load libzbar ({type(exc).__name__}: {exc})",
                     "apt-get install libzbar0 (scripts/setup.sh)")
    return Check("zbar", True, f"pyzbar with {pyzbar.EXTERNAL_DEPENDENCIES[0]._name}")


def check_cell_model(_settings: Settings) -> Check:
    fix = "restore extractors/models/cellnet.onnx from git, or retrain: python tools/train_cells.py"
    if not CELL_MODEL.is_file() or CELL_MODEL.stat().st_size == 0:
        return Check("cell model", False, f"{CELL_MODEL} is missing or empty", fix)
    return Check("cell model", True, f"{CELL_MODEL.relative_to(ROOT)} "
                 f"({CELL_MODEL.stat().st_size // 1024} KiB)")


def check_wordlist(_settings: Settings) -> Check:
    from extractors import lexicon

    path = lexicon.wordlist_path()
    if not path.is_file():
        return Check("word list", False, f"no {path}: free text's words are weighed against "
                     "the comuni's names and street types only",
                     "apt-get install witalian (scripts/setup.sh), or PLICO_WORDLIST=FILE")
    return Check("word list", True, f"{path} ({lexicon.size()} words with the comuni's)")


def check_database(settings: Settings) -> Check:
    from storage.db import current_revision, database_url, head_revision

    url = database_url(settings)
    head = head_revision()
    try:
        current = current_revision(url)
    except Exception as exc:  # noqa: BLE001 - any fault here means "not reachable"
        return Check("database", False, f"{_where(url)} unreachable ({type(exc).__name__})",
                     "start the database or set PLICO_DATABASE_URL")
    if current is None and url.startswith("sqlite"):
        return Check("database", True, f"{_where(url)}: not created yet (the first "
                     f"plico process or plico db upgrade makes it at {head})")
    if current != head:
        return Check("database", False, f"{_where(url)} at revision {current or 'none'}, "
                     f"this code at {head}", "plico db upgrade")
    return Check("database", True, f"{_where(url)} at revision {head} (head)")


def check_store(settings: Settings) -> Check:
    from storage.objects_local import LocalObjectStore
    from storage.store_url import open_store

    try:
        store = open_store(settings)
        if isinstance(store, LocalObjectStore):
            return Check("object store", True, f"{store!r}")
        ok = store.bucket_exists()
    except Exception as exc:  # noqa: BLE001 - any fault here means "not reachable"
        return Check("object store", False, f"unreachable ({type(exc).__name__})",
                     "start MinIO/S3 or fix PLICO_STORAGE_URL")
    if not ok:
        return Check("object store", False, f"{store!r}: bucket missing", "plico db upgrade")
    return Check("object store", True, f"{store!r}")


def check_broker(settings: Settings) -> Check:
    url = settings.broker_url
    if not url:
        return Check("broker", True, "none configured: jobs run in-process")
    shown = _where(url)
    try:
        if url.startswith(("redis://", "rediss://", "unix://")):
            import redis

            client = redis.Redis.from_url(url, socket_timeout=SERVICE_TIMEOUT_S,
                                          socket_connect_timeout=SERVICE_TIMEOUT_S)
            try:
                client.ping()
            finally:
                client.close()
        elif url.startswith(("amqp://", "amqps://")):
            import pika

            params = pika.URLParameters(url)
            params.socket_timeout = params.blocked_connection_timeout = SERVICE_TIMEOUT_S
            params.connection_attempts = 1
            pika.BlockingConnection(params).close()
        else:
            return Check("broker", False, f"{shown}: unknown scheme",
                         "PLICO_BROKER_URL must start with redis://, rediss:// or amqp://")
    except Exception as exc:  # noqa: BLE001 - any fault here means "not reachable"
        return Check("broker", False, f"{shown} unreachable ({type(exc).__name__})",
                     "start Redis/RabbitMQ or fix PLICO_BROKER_URL")
    return Check("broker", True, f"{shown} reachable")


TOOLS: tuple[Callable[[Settings], Check], ...] = (check_tesseract, check_zbar, check_cell_model,
                                                  check_wordlist)
SERVICES: tuple[Callable[[Settings], Check], ...] = (check_database, check_store, check_broker)


def run_checks(settings: Settings, checks=TOOLS + SERVICES) -> list[Check]:
    return [check(settings) for check in checks]


def doctor() -> None:
    """Check what Plico needs: tesseract (ita, eng), zbar, the cell model, the word list,
    the index's migration level, the object store and the broker; say how to fix what is
    missing. Exits 1 when something is missing."""
    from pipeline.settings import get_settings

    results = run_checks(get_settings())
    for check in results:
        typer.echo(check.line())
    failed = [c.name for c in results if not c.ok]
    if failed:
        typer.echo(f"plico doctor: missing or unreachable: {', '.join(failed)}", err=True)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add `plico doctor` to the main command."""
    app.command("doctor")(doctor)
