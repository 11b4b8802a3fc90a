"""`PLICO_LOG_FORMAT=json`: one JSON object per log line, for log collectors.

Keys: `ts` (UTC, ISO 8601), `level`, `logger`, `msg` (the message as Plico writes it: ids,
codes, counts and error classes, never a field's value), `pid`, and the ids the line is
about: `batch_id`, `kit_id`, `job_id`, taken from, in order, the record's `extra=`, the
context set by `log_context(...)`, and the message's own arguments where the template names
them (`kit %s`, `batch %s`, `job %s`; a kit id names its batch). An exception adds
`exc_type` and where it was raised (`exc_at`: file and line), never its message, which may
quote input.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import json
import logging
import os
import re
from collections.abc import Iterator

IDS = ("batch_id", "kit_id", "job_id")
_context: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("plico_log_ids",
                                                                          default={})
_PLACEHOLDER = re.compile(r"(\w+)?\s*%[-#0 +]*\d*(?:\.\d+)?[sdrifgx]")
_KIT_ID = re.compile(r"^.+-\d{4}$")  # <batch_id>-<number:04d>
_NAMED = {"batch": "batch_id", "kit": "kit_id", "job": "job_id"}


@contextlib.contextmanager
def log_context(**ids: object) -> Iterator[None]:
    """Ids every log line in this block carries (batch_id=..., kit_id=..., job_id=...)."""
    token = _context.set({**_context.get(), **{k: str(v) for k, v in ids.items()
                                               if k in IDS and v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def _ids_in_message(record: logging.LogRecord) -> dict[str, str]:
    args = record.args if isinstance(record.args, tuple) else ()
    found = {}
    for i, m in enumerate(_PLACEHOLDER.finditer(str(record.msg))):
        key = _NAMED.get((m.group(1) or "").lower())
        if key and i < len(args) and key not in found:
            found[key] = str(args[i])
    return found


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                   timespec="milliseconds"),
               "level": record.levelname, "logger": record.name, "msg": record.getMessage(),
               "pid": os.getpid()}
        ids = {**_ids_in_message(record), **_context.get(),
               **{k: str(getattr(record, k)) for k in IDS if getattr(record, k, None)}}
        kit = ids.get("kit_id", "")
        if "batch_id" not in ids and _KIT_ID.match(kit):
            ids["batch_id"] = kit.rsplit("-", 1)[0]
        out.update(sorted(ids.items()))
        if record.exc_info and record.exc_info[0] is not None:
            tb = record.exc_info[2]
            while tb is not None and tb.tb_next is not None:
                tb = tb.tb_next
            out["exc_type"] = record.exc_info[0].__name__
            if tb is not None:
                out["exc_at"] = f"{os.path.basename(tb.tb_frame.f_code.co_filename)}:{tb.tb_lineno}"
        return json.dumps(out, ensure_ascii=False, default=str)


def configure(level: int | str, fmt: str) -> None:
    """The root logger of a `plico` process: text lines, or JSON lines (`fmt` "json")."""
    if fmt != "json":
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        return
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=level, handlers=[handler], force=True)
