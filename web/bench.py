"""`plico bench web`: a bounded load test of the review app on loopback.

A temporary data folder is seeded with generated istanze (perfect-reader records of generated
kit plans, validators/testing.py; each with its page images, rendered once per page kind by
the generator, and a crop per field read, as the pipeline stores them), reviewer accounts
spread over the istanze's Questure, and the app is started as its own process (`plico
serve`'s function under uvicorn) on a free 127.0.0.1 port. N simulated reviewers (a thread
each, with a browser's six keep-alive connections) then work for D seconds: log in, then over and over open
the queue, open an istanza and every image its page shows, think, record a decision (confirm
a field or resolve an anomaly, by the page's forms), follow the redirect (the page and its
images again), think. Every request's latency is kept; an error is a transport failure or
any status other than the expected one.

SQLite by default (a file in the temporary folder); `--database-url postgresql://...` runs on a
throwaway database created on that server and dropped afterwards (the URL's own database is
only used to create it).
"""

from __future__ import annotations

import hashlib
import http.client
import io
import os
import queue
import random
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

QUESTURE = ("MI", "RM", "TO", "NA")
PASSWORD = "bench password 2024"
BATCH = "bench-web"
DPI = 200
BROWSER_CONNECTIONS = 6
IDLE_CONNECTION = 4.0  # seconds a kept-alive connection may idle before it is not reused


# --- seeding ------------------------------------------------------------------------------


def _png(image) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(image).save(out, format="PNG", compress_level=3)
    return out.getvalue()


def _page_kind(kind: str) -> str:
    return kind if kind[:3] in ("m1p", "m2p") else "other"


def seed_data(url: str, data_dir: Path, *, kits: int, reviewers: int, seed: int) -> list[str]:
    """`kits` istanze with images and crops, `reviewers` accounts; returns the account names."""
    import numpy as np

    from pipeline.form import load_form_model
    from pipeline.record import Anomaly as RecordAnomaly
    from pipeline.settings import Settings
    from sample_scans.synth.batch import SynthOptions, render_sheet
    from sample_scans.synth.kit import plan_kit
    from storage.db import User, engine_for, session_scope, upgrade
    from storage.index import kit_id_for, save_record
    from storage.store_url import open_store
    from validators.rules import validate
    from validators.testing import record_from_plan
    from web.auth import hash_password

    store = open_store(Settings(data_dir=data_dir))
    model = load_form_model()
    opts = SynthOptions(dpi=DPI, filled_by="typed")
    scale = DPI / 72.0
    plans = [plan_kit(np.random.default_rng([seed, i]), i, "typed", True) for i in range(kits)]
    # one rendered page per form page (the first kit having it), reused by every kit; the
    # other pages (label, passport, attachments) all show the first of them rendered
    pages: dict[str, np.ndarray] = {}
    for plan in plans:
        for sheet in plan.sheets:
            kind = _page_kind(sheet.kind)
            if kind not in pages:
                pages[kind] = render_sheet(opts, plan, sheet, np.random.default_rng(seed))
    page_png = {kind: _png(img) for kind, img in pages.items()}
    crop_png: dict[tuple[str, str], bytes] = {}
    upgrade(url)
    engine = engine_for(url)
    for number, plan in enumerate(plans, 1):
        rng = random.Random(seed * 1000 + number)
        rec = record_from_plan(plan)
        review = rng.sample(sorted(k for k, f in rec.fields.items() if f.value not in ("", False)),
                            k=3)
        rec = record_from_plan(plan, review=review)
        sha = hashlib.sha256(f"{BATCH}-{seed}-{number}".encode()).hexdigest()
        refs = [p.model_copy(update={"sha256": sha}) for p in rec.kit.pages]
        kit_id = kit_id_for(BATCH, number)
        fields = dict(rec.fields)
        fields["m1.questore_sigla"] = fields["m1.questore_sigla"].model_copy(
            update={"value": QUESTURE[number % len(QUESTURE)]})
        for ref, sheet in zip(refs, plan.sheets):
            store.put(f"pages/{sha}/{ref.index}.png", page_png[_page_kind(sheet.kind)],
                      "image/png")
        for key, fv in fields.items():
            kind = _page_kind(plan.sheets[fv.page].kind) if 0 <= fv.page < len(plan.sheets) \
                else ""
            if kind not in pages:
                continue
            f = model.field(f"{key.split('.')[0].split('#')[0]}.{key.split('.', 1)[1]}")
            boxes = [f.box] if f.box is not None else list(f.cells)
            if not boxes:
                continue
            x0, y0 = min(b.x for b in boxes) * scale, min(b.y for b in boxes) * scale
            x1, y1 = max(b.x + b.w for b in boxes) * scale, max(b.y + b.h for b in boxes) * scale
            if (kind, key) not in crop_png:
                img = pages[kind]
                crop_png[(kind, key)] = _png(img[max(0, int(y0) - 4):int(y1) + 4,
                                                 max(0, int(x0) - 4):int(x1) + 4])
            crop = f"crops/{kit_id}/{rec.pipeline_version}/{key}.png"
            store.put(crop, crop_png[(kind, key)], "image/png")
            fields[key] = fv.model_copy(update={"bbox": (x0, y0, x1 - x0, y1 - y0),
                                                "crop": crop})
        kit = rec.kit.model_copy(update={"batch": BATCH, "number": number, "pages": refs})
        rec = rec.model_copy(update={"kit": kit, "fields": fields,
                                     "inputs": [{"name": f"{BATCH}.pdf", "sha256": sha}]})
        doubts = [RecordAnomaly.make("low_confidence_field", fields=[k], pages=[fields[k].page],
                                     value=fields[k].value, confidence=0.5,
                                     read_as=fields[k].value, repaired=False) for k in review]
        rec = rec.model_copy(update={"anomalies": rec.anomalies + doubts})
        rec = rec.model_copy(update={"anomalies": rec.anomalies + validate(rec)})
        with session_scope(engine) as db:
            save_record(db, rec, batch_id=BATCH, kit_id=kit_id, store=store)
    names = [f"bench{i:02d}" for i in range(1, reviewers + 1)]
    password_hash = hash_password(PASSWORD)
    with session_scope(engine) as db:
        for i, name in enumerate(names):
            db.add(User(name=name, password_hash=password_hash, role="reviewer",
                        questure=[QUESTURE[i % len(QUESTURE)]], failed_logins=0, active=True))
    return names


# --- the server ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and of its children still running (uvicorn's
    worker processes); Linux /proc, 0 elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        total += sum(cpu_seconds(int(c)) for c in children)
    return total


@contextmanager
def server(data_dir: Path, url: str, log: Path, workers: int = 1) -> Iterator[tuple[int, int]]:
    """The app in its own process (`workers` processes) under uvicorn on a free loopback
    port; yields the port and the process id."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLICO_")}
    env.update(PLICO_DATA_DIR=str(data_dir), PLICO_DATABASE_URL=url, PLICO_LOG_LEVEL="WARNING",
               PLICO_WEB_SECRET=secrets.token_urlsafe(32),
               # every simulated reviewer comes from 127.0.0.1: no per-address login limit
               PLICO_LOGIN_RATE_PER_MINUTE="1000000")
    code = f"from web.cli import serve; serve(host='127.0.0.1', port={port}, workers={workers})"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=out,
                                stderr=subprocess.STDOUT, cwd=data_dir)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with {proc.returncode}:\n"
                                   + log.read_text(errors="replace")[-2000:])
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            try:
                conn.request("GET", "/login")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            finally:
                conn.close()
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not answer in 120 s")
            time.sleep(0.2)
        yield port, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- the simulated reviewers --------------------------------------------------------------

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_KIT_LINK = re.compile(r'href="/istanze/([^"/?#]+)"')
_IMG = re.compile(r'<img src="([^"]+)"')
_ANOMALY_FORM = re.compile(r'action="/istanze/[^"/]+/anomalie/(\d+)"')
_FIELD = re.compile(r'name="field" value="([^"]+)"')


@dataclass
class Result:
    """Every request: (kind, latency in seconds); errors by kind and what went wrong."""

    samples: list[tuple[str, float]] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    decisions: int = 0
    claimed: int = 0  # decisions refused because another reviewer holds the istanza (409)
    istanze: int = 0
    server_cpu: float = 0.0  # seconds of CPU the server process used during the load
    client_cpu: float = 0.0  # and the simulated reviewers (this process)
    load: tuple[float, float] = (0.0, 0.0)  # the machine's 1-minute load average before, after
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def requests(self) -> int:
        return len(self.samples)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


class Reviewer:
    """One simulated reviewer: a thread of its own, and a browser's six keep-alive connections
    (http.client: the load generator shares the machine's CPUs with the server, so it is kept
    light)."""

    def __init__(self, port: int, name: str, result: Result, think: float,
                 rng: random.Random) -> None:
        self.port, self.name, self.result, self.think, self.rng = port, name, result, think, rng
        self.cookie = ""
        # (connection, when it was last used): uvicorn closes a connection idle 5 s, so does a
        # browser before reusing one, so one idle 4 s is closed here and a new one opened
        self._idle: queue.LifoQueue[tuple[http.client.HTTPConnection, float]] = queue.LifoQueue()
        self._images = ThreadPoolExecutor(BROWSER_CONNECTIONS, thread_name_prefix=name)
        self._lock = threading.Lock()

    def request(self, kind: str, method: str, path: str, expect: int,
                form: dict[str, str] | None = None, claimed_ok: bool = False,
                ) -> tuple[dict[str, str], str] | None:
        """(headers, body text) when the answer is `expect`; else None, counted an error
        (with `claimed_ok`, a 409 is no error: another reviewer holds the istanza, and the
        app said so instead of letting two reviewers overwrite each other)."""
        conn = None
        while conn is None:
            try:
                conn, used = self._idle.get_nowait()
            except queue.Empty:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                break
            if time.monotonic() - used > IDLE_CONNECTION:
                conn.close()
                conn = None
        headers = {"Cookie": self.cookie} if self.cookie else {}
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        t = time.perf_counter()
        try:
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            self._record(kind, time.perf_counter() - t, f"{kind} {type(exc).__name__}")
            return None
        claimed = claimed_ok and r.status == 409
        self._record(kind, time.perf_counter() - t,
                     None if r.status == expect or claimed else f"{kind} {r.status}")
        if claimed:
            with self.result.lock:
                self.result.claimed += 1
        self._idle.put((conn, time.monotonic()))
        cookie = r.getheader("set-cookie")
        if cookie:
            with self._lock:
                self.cookie = cookie.split(";", 1)[0]
        if r.status != expect:
            return None
        text = data.decode("utf-8", "replace") if kind != "image" else ""
        return {k.lower(): v for k, v in r.getheaders()}, text

    def _record(self, kind: str, seconds: float, error: str | None) -> None:
        with self.result.lock:
            self.result.samples.append((kind, seconds))
            if error:
                self.result.errors[error] += 1

    def pause(self) -> None:
        if self.think > 0:
            time.sleep(self.rng.uniform(0.5, 1.5) * self.think)

    def login(self) -> bool:
        page = self.request("page", "GET", "/login", 200)
        if page is None:
            return False
        token = _CSRF.search(page[1]).group(1)
        return self.request("login", "POST", "/login", 303, form={
            "name": self.name, "password": PASSWORD, "csrf": token, "next": "/coda"}) is not None

    def istanza(self, path: str) -> str | None:
        """The istanza page and every image it shows, six at a time."""
        page = self.request("page", "GET", path, 200)
        if page is None:
            return None
        with self.result.lock:
            self.result.istanze += 1
        srcs = [src.replace("&amp;", "&") for src in _IMG.findall(page[1])]
        list(self._images.map(lambda src: self.request("image", "GET", src, 200), srcs))
        return page[1]

    def decide(self, kit: str, html: str) -> None:
        token = _CSRF.search(html).group(1)
        anomalies, fields = _ANOMALY_FORM.findall(html), _FIELD.findall(html)
        if anomalies and (not fields or self.rng.random() < 0.5):
            path = f"/istanze/{kit}/anomalie/{self.rng.choice(anomalies)}"
            form = {"resolution": self.rng.choice(("accettata", "integrazione_richiesta")),
                    "note": "bench", "csrf": token}
        elif fields:
            path = f"/istanze/{kit}/campi"
            form = {"field": self.rng.choice(fields), "action": "confirm", "csrf": token}
        else:
            return
        answer = self.request("decision", "POST", path, 303, form=form, claimed_ok=True)
        if answer is not None:
            with self.result.lock:
                self.result.decisions += 1
            self.istanza(answer[0]["location"].split("#")[0])

    def run(self, deadline: float) -> None:
        try:
            time.sleep(self.rng.uniform(0, self.think))  # not all in the same second
            if not self.login():
                return
            while time.monotonic() < deadline:
                answer = self.request("page", "GET", "/coda?status=tutte", 200)
                kits = _KIT_LINK.findall(answer[1]) if answer is not None else []
                if not kits:
                    self.pause()
                    continue
                kit = self.rng.choice(kits)
                html = self.istanza(f"/istanze/{kit}")
                self.pause()
                if html is not None and time.monotonic() < deadline:
                    self.decide(kit, html)
                    self.pause()
        finally:
            self._images.shutdown()
            while not self._idle.empty():
                self._idle.get_nowait()[0].close()


def _load(port: int, names: list[str], seconds: float, think: float, seed: int,
          result: Result) -> None:
    started = time.monotonic()
    deadline = started + seconds
    reviewers = [Reviewer(port, name, result, think, random.Random(seed * 7919 + i))
                 for i, name in enumerate(names)]
    threads = [threading.Thread(target=r.run, args=(deadline,), name=r.name) for r in reviewers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.seconds = time.monotonic() - started


# --- the bench ----------------------------------------------------------------------------


@contextmanager
def _throwaway_postgresql(url: str) -> Iterator[str]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from storage.db import dispose_engines, normalise_url

    admin = create_engine(normalise_url(url), isolation_level="AUTOCOMMIT")
    name = f"plico_bench_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(normalise_url(url)).set(database=name).render_as_string(
            hide_password=False)
    finally:
        dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def _database(database_url: str | None, data_dir: Path) -> Iterator[str]:
    if not database_url:
        yield f"sqlite:///{data_dir / 'plico.db'}"
        return
    with _throwaway_postgresql(database_url) as url:
        yield url


def run_bench(*, database_url: str | None = None, reviewers: int = 20, seconds: float = 60.0,
              kits: int = 24, think: float = 5.0, seed: int = 1, workers: int = 1,
              echo: Callable[[str], None] = print) -> Result:
    """Seed, serve, load; the server's log is kept when something failed."""
    with tempfile.TemporaryDirectory(prefix="plico-bench-web-") as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        with _database(database_url, data_dir) as url:
            t = time.perf_counter()
            names = seed_data(url, data_dir, kits=kits, reviewers=reviewers, seed=seed)
            echo(f"seeded {kits} istanze and {len(names)} reviewers in "
                 f"{time.perf_counter() - t:.1f} s ({url.split(':')[0]})")
            log = Path(tmp) / "server.log"
            result = Result()
            with server(data_dir, url, log, workers) as (port, pid):
                cpu0, own0, load0 = cpu_seconds(pid), time.process_time(), os.getloadavg()[0]
                _load(port, names, seconds, think, seed, result)
                result.server_cpu = cpu_seconds(pid) - cpu0
                result.client_cpu = time.process_time() - own0
                result.load = (load0, os.getloadavg()[0])
            server_log = log.read_text(errors="replace")
            if result.error_count or "Traceback" in server_log:
                echo("server log (tail):\n" + server_log[-3000:])
    return result


def format_result(result: Result, *, database: str, reviewers: int, seconds: float,
                  think: float, workers: int = 1) -> str:
    lat = [s for _, s in result.samples]
    lines = [f"bench web: {database}, {workers} server process(es), {reviewers} reviewers, "
             f"{seconds:.0f} s, think "
             f"{think:.1f} s (x0.5-1.5), {os.cpu_count()} CPUs; ran {result.seconds:.1f} s",
             f"requests {result.requests}  {result.requests / max(result.seconds, 1e-9):.1f}/s  "
             f"p50 {percentile(lat, 50) * 1000:.0f} ms  p95 {percentile(lat, 95) * 1000:.0f} ms  "
             f"p99 {percentile(lat, 99) * 1000:.0f} ms  max {max(lat, default=0) * 1000:.0f} ms"
             f"  errors {result.error_count}",
             f"istanze opened {result.istanze}, decisions {result.decisions} (refused, held by "
             f"another reviewer: {result.claimed}); CPU: server "
             f"{result.server_cpu:.1f} s ({result.server_cpu / max(result.requests, 1) * 1000:.1f}"
             f" ms a request), simulated reviewers {result.client_cpu:.1f} s; load average "
             f"{result.load[0]:.1f} before, {result.load[1]:.1f} after"]
    by_kind: dict[str, list[float]] = defaultdict(list)
    for kind, s in result.samples:
        by_kind[kind].append(s)
    for kind in ("login", "page", "image", "decision"):
        v = by_kind.get(kind, [])
        if v:
            lines.append(f"  {kind:<8} {len(v):6d}  p50 {percentile(v, 50) * 1000:5.0f} ms  "
                         f"p95 {percentile(v, 95) * 1000:5.0f} ms  "
                         f"p99 {percentile(v, 99) * 1000:5.0f} ms")
    for what, n in sorted(result.errors.items()):
        lines.append(f"  error {what}: {n}")
    return "\n".join(lines)
