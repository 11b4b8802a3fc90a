"""The public status lookup, like the police site: a code in, a colour out.

Accepts a Codice Assicurata (12 digits, printed with a dash before the last one on the
receipt) or a numero pratica / Codice Istanza (10 letters and digits, e.g. 26FR000001, or the
12 digits of the sticker); answers green (ready: verificata), orange (received, in progress) or
red (not found). Nothing else leaves: no name, no Questura, no anomaly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from storage.db import Kit

_CLEAN = re.compile(r"[\s\-./]")


@dataclass(frozen=True)
class StatusAnswer:
    code: str
    kind: str  # assicurata | pratica
    colour: str  # green | orange | red


def parse_code(raw: str) -> tuple[str, str] | None:
    """(normalised code, kind) or None when it is neither format."""
    code = _CLEAN.sub("", raw or "").upper()
    if re.fullmatch(r"\d{12}", code):
        return code, "assicurata"
    if re.fullmatch(r"[0-9A-Z]{10}", code):
        return code, "pratica"
    return None


def lookup(db: Session, code: str, kind: str) -> StatusAnswer:
    if kind == "assicurata":
        # 12 digits: the receipt's Codice Assicurata, or the Codice Istanza of the sticker
        where = or_(Kit.assicurata == code, Kit.codice_istanza == code)
    else:
        where = Kit.codice_istanza == code
    statuses = set(db.scalars(select(Kit.status).where(where)).all())
    if not statuses:
        colour = "red"
    elif statuses == {"verificata"}:
        colour = "green"
    else:
        colour = "orange"
    return StatusAnswer(code=code, kind=kind, colour=colour)
