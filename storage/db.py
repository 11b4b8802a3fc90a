"""The index database: SQLAlchemy 2 models, engines, sessions and migrations to head.

One schema for SQLite (the embedded default, `<data_dir>/plico.db`) and PostgreSQL (production,
through psycopg 3). The schema is owned by the alembic migrations shipped in
`storage/migrations/` (revision ids "0001", "0002", ...); every entry point calls `upgrade(url)`
before it uses the database, so a fresh database and an old one both end at head.

SQLite runs in WAL mode (readers do not wait for the writer) with foreign keys on and a busy
timeout (30 s by default; the web app asks for a short one). A session that writes begins
`BEGIN IMMEDIATE`: several workers on one SQLite file then queue for the write lock instead of
failing with "database is locked" when a reader turns writer. A read-only session
(`session_scope(engine, write=False)`) begins deferred and takes no lock at all; it is read-only
on both databases (`PRAGMA query_only` on SQLite, `SET TRANSACTION READ ONLY` on PostgreSQL),
so a write slipped into it fails at once instead of queueing behind the writer.

Personal data (names, document numbers, codice fiscale) lives only in `record_versions.record`
(the full record JSON); summary columns hold ids, codes and province codes.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

# JSONB on PostgreSQL (indexable, comparable), JSON text elsewhere
JSONType = JSON().with_variant(JSONB(), "postgresql")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Now, in UTC (every timestamp of the index is UTC)."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict] = {
        dict[str, Any]: JSONType,
        list[Any]: JSONType,
        datetime: DateTime(timezone=True),
    }


class Batch(Base):
    """One submitted batch of input files."""

    __tablename__ = "batches"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued|running|done|failed
    pages: Mapped[int] = mapped_column(Integer, default=0)
    kits: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    # what was read: the one input's SHA-256, or that of the inputs' hashes in order; one
    # batch per content (a second `plico process` of the same files finds this one)
    source_sha256: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)
    # the in-process run reading the batch (`<host>:<pid>`; None: the workers) and its last
    # sign of life: a batch left running by a dead owner is resumed
    owner: Mapped[str | None] = mapped_column(String(255))
    heartbeat_at: Mapped[datetime | None]


class Input(Base):
    """A raw input of a batch (the bytes are in the object store under raw/<sha[:2]>/<sha>)."""

    __tablename__ = "inputs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.id"), primary_key=True)
    original_name: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    pages: Mapped[int | None] = mapped_column(Integer)  # pages read; None = not read yet


class Kit(Base):
    """One envelope; its current reading is `current_version_id`."""

    __tablename__ = "kits"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)  # <batch_id>-<number:04d>
    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    assicurata: Mapped[str | None] = mapped_column(String(32), index=True)
    codice_istanza: Mapped[str | None] = mapped_column(String(32))
    # the envelope: SHA-256 of its Codice Assicurata and its pages (input hash, page index);
    # the same envelope in another batch is this kit, not a new one
    envelope: Mapped[str | None] = mapped_column(String(64), index=True)
    questura: Mapped[str | None] = mapped_column(String(2), index=True)
    status: Mapped[str] = mapped_column(String(24), default="da_verificare", index=True)
    max_severity: Mapped[str | None] = mapped_column(String(16))
    anomaly_count: Mapped[int] = mapped_column(Integer, default=0)
    current_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("record_versions.id", use_alter=True)
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # the reviewer who took the istanza and since when (web/claims.py: it lapses)
    claimed_by: Mapped[str | None] = mapped_column(String(120), index=True)
    claimed_at: Mapped[datetime | None]
    # bumped by every reviewer's decision: a decision sent with an older one is refused
    review_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class RecordVersion(Base):
    """A kit's record as one pipeline version read it; one row per (kit, version)."""

    __tablename__ = "record_versions"
    __table_args__ = (UniqueConstraint("kit_id", "pipeline_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kit_id: Mapped[str] = mapped_column(ForeignKey("kits.id"), index=True)
    pipeline_version: Mapped[str] = mapped_column(String(64))
    record: Mapped[dict[str, Any]]
    record_key: Mapped[str] = mapped_column(String(255))
    record_sha256: Mapped[str] = mapped_column(String(64))
    # reviewers' field decisions when this version was saved: {"applied": [...], "flagged": [...]}
    decisions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Anomaly(Base):
    """One anomaly of one record version, with the reviewer's resolution."""

    __tablename__ = "anomalies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    record_version_id: Mapped[int] = mapped_column(
        ForeignKey("record_versions.id", ondelete="CASCADE"), index=True
    )
    kit_id: Mapped[str] = mapped_column(String(80), index=True)
    code: Mapped[str] = mapped_column(String(64), index=True)
    category: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    fields: Mapped[list[Any]] = mapped_column(default=list)
    pages: Mapped[list[Any]] = mapped_column(default=list)
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    message_it: Mapped[str] = mapped_column(Text)
    message_en: Mapped[str] = mapped_column(Text)
    # aperta | accettata | integrazione_richiesta | respinta
    status: Mapped[str] = mapped_column(String(32), default="aperta")
    note: Mapped[str | None] = mapped_column(Text)
    resolved_by: Mapped[str | None] = mapped_column(String(120))
    resolved_at: Mapped[datetime | None]


class FieldDecision(Base):
    """A reviewer confirmed or corrected a field; re-applied when the kit is read again."""

    __tablename__ = "field_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kit_id: Mapped[str] = mapped_column(ForeignKey("kits.id"), index=True)
    field_key: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(16))  # confirm | correct
    value_before: Mapped[Any] = mapped_column(JSONType, nullable=True)
    value_after: Mapped[Any] = mapped_column(JSONType, nullable=True)
    user_name: Mapped[str] = mapped_column(String(120))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    record_version_id: Mapped[int | None] = mapped_column(ForeignKey("record_versions.id"))


class QuarantineItem(Base):
    """A raw input, or some of its pages, that could not be read, and why."""

    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_id: Mapped[str | None] = mapped_column(String(64), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    original_name: Mapped[str] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(Text)
    code: Mapped[str] = mapped_column(String(64))  # a pipeline.errors class name
    pages: Mapped[list[Any] | None] = mapped_column(JSONType, nullable=True)  # None = whole file
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Job(Base):
    """A unit of queued work (a batch or a kit) and what became of it."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # batch | kit
    batch_id: Mapped[str | None] = mapped_column(String(64), index=True)
    kit_id: Mapped[str | None] = mapped_column(String(80), index=True)
    pipeline_version: Mapped[str] = mapped_column(String(64))
    # queued | running | done | failed | quarantined
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class User(Base):
    """A person of the review app."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))  # argon2
    role: Mapped[str] = mapped_column(String(16))  # reviewer | ops | admin
    questure: Mapped[list[Any]] = mapped_column(default=list)  # province codes
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class AuditEvent(Base):
    """Who did or saw what, when, from where. `detail` holds ids and before/after values."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    user_name: Mapped[str | None] = mapped_column(String(120), index=True)
    action: Mapped[str] = mapped_column(String(32))
    kit_id: Mapped[str | None] = mapped_column(String(80), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    remote: Mapped[str | None] = mapped_column(String(64))


# --- urls, engines, sessions --------------------------------------------------------------


def normalise_url(url: str) -> str:
    """`postgresql://` and `postgres://` mean psycopg 3 (the driver installed)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def database_url(settings) -> str:
    """The index database of `settings`: `PLICO_DATABASE_URL`, else SQLite in the data folder."""
    if settings.database_url:
        return normalise_url(settings.database_url)
    return f"sqlite:///{(Path(settings.data_dir) / 'plico.db').resolve()}"


_engines: dict[tuple[str, float | None, int | None], Engine] = {}
_engines_lock = threading.Lock()


def forget_engines() -> None:
    """In a forked child: drop the engines inherited from the parent without closing the
    parent's connections (SQLAlchemy's advice for fork); the child opens its own."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose(close=False)
        _engines.clear()


SQLITE_BUSY_TIMEOUT = 30.0  # seconds a writer waits for the write lock (the pipeline's workers)
READ_ONLY = "plico_read_only"  # execution option of the connections of read-only sessions


def _read_only(conn) -> bool:
    return bool(conn.get_execution_options().get(READ_ONLY))


def _sqlite_setup(engine: Engine, busy_timeout: float) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record) -> None:
        # pysqlite's own transaction handling would defeat BEGIN IMMEDIATE and savepoints
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={round(busy_timeout * 1000)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn) -> None:
        read_only = _read_only(conn)
        info = conn.connection.info  # lives as long as the pooled connection
        if info.get("query_only") != read_only:
            conn.exec_driver_sql(f"PRAGMA query_only={'ON' if read_only else 'OFF'}")
            info["query_only"] = read_only
        # deferred: a reader in WAL mode takes no lock
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _postgresql_setup(engine: Engine) -> None:
    @event.listens_for(engine, "begin")
    def _begin(conn) -> None:
        if _read_only(conn):
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")


def _create_sqlite_file(path: Path) -> None:
    """The database file, created owner-only (0600) in an owner-only folder (0700) when new:
    it holds the applicants' records. An existing file or folder keeps its mode."""
    if not path.parent.exists():
        from storage.objects_local import private_dirs

        private_dirs(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def engine_for(url: str, *, busy_timeout: float = SQLITE_BUSY_TIMEOUT,
               connections: int | None = None) -> Engine:
    """The engine of `url`, one per process, URL and settings (engines pool their connections).

    busy_timeout: seconds a SQLite writer waits for the write lock. connections: the most
    connections pooled at once (default 15 on SQLite, 10 on PostgreSQL); given, they are all
    kept once opened (a threaded server: one per thread, no thread waits for a connection and
    none is opened and closed per request)."""
    url = normalise_url(url)
    parsed = make_url(url)
    sqlite = parsed.get_backend_name() == "sqlite"
    key = (url, busy_timeout if sqlite else None, connections)
    size = {} if connections is None else {"pool_size": connections, "max_overflow": 0}
    with _engines_lock:
        engine = _engines.get(key)
        if engine is not None:
            return engine
        if sqlite:
            if parsed.database and parsed.database != ":memory:":
                _create_sqlite_file(Path(parsed.database))
            engine = create_engine(url, connect_args={"timeout": busy_timeout}, **size)
            _sqlite_setup(engine, busy_timeout)
        else:
            # pre-ping: a database that restarted is reconnected instead of failing once
            engine = create_engine(url, pool_pre_ping=True,
                                   **(size or {"pool_size": 5, "max_overflow": 5}))
            _postgresql_setup(engine)
        _engines[key] = engine
        return engine


def dispose_engines() -> None:
    """Close every pooled connection (a forked worker must not share its parent's)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


_sessions: dict[tuple[int, bool], tuple[Engine, sessionmaker]] = {}


@contextmanager
def session_scope(engine: Engine, *, write: bool = True) -> Iterator[Session]:
    """A session that commits when the block ends and rolls back if it raises.

    write=False: a read-only session (deferred on SQLite: no lock; a write in it fails)."""
    cached = _sessions.get((id(engine), write))
    if cached is None or cached[0] is not engine:
        bind = engine if write else engine.execution_options(**{READ_ONLY: True})
        cached = _sessions[(id(engine), write)] = (
            engine, sessionmaker(bind, expire_on_commit=False))
    session = cached[1]()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# --- migrations ---------------------------------------------------------------------------


def _alembic_config():
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    """The newest migration shipped with this code."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def current_revision(url: str) -> str | None:
    """The migration the database at `url` is at (None: empty or not migrated)."""
    from alembic.runtime.migration import MigrationContext

    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:") \
            and not Path(parsed.database).exists():
        return None  # asking must not create the file
    with engine_for(url).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


_upgraded: set[str] = set()


@contextmanager
def _migration_lock(conn) -> Iterator[None]:
    # Workers start together and each calls upgrade(): one migrates, the others wait. SQLite
    # needs nothing more: its transactions begin IMMEDIATE, one writer at a time.
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7209209)")  # held to commit
    yield


def upgrade(url: str, revision: str = "head") -> str:
    """Migrate the database at `url` to `revision` (default: head); returns the revision.

    Cheap when already there (checked once per process and URL).
    """
    from alembic import command

    url = normalise_url(url)
    if revision == "head" and url in _upgraded:
        return head_revision()
    engine = engine_for(url)
    head = head_revision()
    if revision == "head" and current_revision(url) == head:
        _upgraded.add(url)
        return head
    with engine.begin() as conn, _migration_lock(conn):
        cfg = _alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    if revision == "head":
        _upgraded.add(url)
    return current_revision(url) or ""
