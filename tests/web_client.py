"""Fixtures and helpers of the web app's API tests: an app on a fresh index (SQLite and
PostgreSQL, from conftest's db_url), four accounts, three istanze, logged-in clients."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fastapi.testclient import TestClient
from web_testdata import SampleKit, build, find_plan, save, with_images

from pipeline.settings import Settings
from storage.db import User, engine_for, session_scope, upgrade
from storage.objects_local import LocalObjectStore
from web.auth import hash_password

PASSWORD = "correct horse battery"
ACCOUNTS = {"rev_mi": ("reviewer", ["MI"]), "rev_rm": ("reviewer", ["RM"]),
            "ops1": ("ops", []), "admin1": ("admin", [])}


@cache
def _hash() -> str:
    return hash_password(PASSWORD)


@cache
def sample_kits() -> tuple[SampleKit, SampleKit, SampleKit]:
    """MI: a wrong codice fiscale check letter plus a surname read with low confidence;
    RM: a missing signature (blocking); MI: a clean kit."""
    cf = find_plan(lambda p: p.anomalies == ["invalid_codice_fiscale"])
    unsigned = find_plan(lambda p: p.anomalies == ["missing_signature"])
    clean = find_plan(lambda p: p.has_label, seed=12, with_anomaly=False)
    return (build(cf, 1, "MI", review=("m1.3",)), build(unsigned, 2, "RM"),
            build(clean, 3, "MI"))


@dataclass
class Web:
    app: object
    settings: Settings
    store: object
    engine: object
    mi: SampleKit
    rm: SampleKit
    clean: SampleKit

    def client(self, user: str | None = None, **kw) -> TestClient:
        c = TestClient(self.app, **kw)
        if user:
            login(c, user)
        return c


def make_web(tmp_path: Path, db_url: str, *, images: bool = False, store=None,
             **overrides) -> Web:
    from web.app import create_app

    settings = Settings(data_dir=tmp_path / "data", database_url=db_url,
                        web_lockout_attempts=3, status_burst=4, status_rate_per_minute=1.0,
                        **overrides)
    store = store if store is not None else LocalObjectStore(tmp_path / "objects")
    mi, rm, clean = sample_kits()
    if images:
        mi = with_images(mi, store, {1, 2})
    upgrade(db_url)
    engine = engine_for(db_url)
    save(engine, store, [mi, rm, clean])
    with session_scope(engine) as db:
        for name, (role, questure) in ACCOUNTS.items():
            db.add(User(name=name, password_hash=_hash(), role=role, questure=questure,
                        failed_logins=0, active=True))
    return Web(create_app(settings, store=store), settings, store, engine, mi, rm, clean)


_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    m = _CSRF.search(html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def login(c: TestClient, name: str, password: str = PASSWORD, expect: int = 303):
    token = csrf_of(c.get("/login").text)
    r = c.post("/login", data={"name": name, "password": password, "csrf": token,
                               "next": "/coda"}, follow_redirects=False)
    assert r.status_code == expect, r.text[:300]
    return r


def page_csrf(c: TestClient, path: str = "/coda") -> str:
    return csrf_of(c.get(path).text)
