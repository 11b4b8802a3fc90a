"""Value normalisation shared by the ground truth and the pipeline's records.

Both sides normalise the same way, so scoring a reading is a plain comparison:

- text: the characters as written, uppercase, runs joined in order with empty cells as
  spaces, then stripped and inner spaces collapsed;
- digits: the digit string (empty cells dropped);
- code: as written (empty cells dropped);
- date: ``YYYY-MM-DD``; a date that is not a real one keeps its raw ``DDMMYYYY`` as written
  (empty cells as spaces, stripped);
- check: true / false; an option field (SI / NO) the option's name, or "" when none;
- signature: true / false (ink in the box).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Sequence

Cells = Sequence[str | None]

#: The character a cell gets when the recogniser read nothing in it (form cells, MRZ cells).
UNREAD = "?"
_SPACES = re.compile(r" +")


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: characters changed, added or dropped to turn `a` into `b`."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _chars(cells: Cells) -> list[str]:
    return [(c or " ").upper() for c in cells]


def text_value(cells: Cells) -> str:
    return _SPACES.sub(" ", "".join(_chars(cells))).strip()


def compact_value(cells: Cells) -> str:
    """digits and code fields: the characters written, without empty cells."""
    return "".join(c for c in _chars(cells) if c != " ")


def date_value(cells: Cells) -> str:
    """Eight cells: day (2), month (2), year (4)."""
    raw = "".join(_chars(cells))
    if not raw.strip():
        return ""
    if re.fullmatch(r"\d{8}", raw):
        try:
            return dt.date(int(raw[4:]), int(raw[2:4]), int(raw[:2])).isoformat()
        except ValueError:
            pass
    return raw.strip()


def parse_date(value: str) -> dt.date | None:
    """A normalised date value back to a date; None for empty or impossible dates."""
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def date_cells(value: dt.date | str) -> list[str]:
    """The eight characters a person writes for a date (DDMMYYYY)."""
    if isinstance(value, dt.date):
        return list(value.strftime("%d%m%Y"))
    if len(value) != 8:
        raise ValueError(f"a raw date has 8 characters, not {value!r}")
    return list(value)


def plain_upper(text: str) -> str:
    """An Italian name in block capitals as forms want it: an accented letter becomes the
    letter and an apostrophe (Cantù -> CANTU')."""
    out = []
    for ch in text.upper().replace("’", "'"):
        base = unicodedata.normalize("NFKD", ch)
        letters = "".join(c for c in base if not unicodedata.combining(c))
        out.append(letters + ("'" if letters != base else ""))
    return "".join(out)
