"""What a form page or field that reads empty means (`pipeline.read.read_kit`): a page every
application writes on that reads empty, a required field left empty, a child's block the
declared number of children says is written, a page written mostly in faint cells. None of
them is accepted as read."""

from __future__ import annotations

from collections import Counter

from extractors.cell_crops import FAINT_CONFIDENCE
from extractors.fields import FieldReading
from validators.rules import CHILD_BLOCKS, REQUIRED_FIELDS


def m1_copies(readings: dict[str, FieldReading]) -> list[str]:
    """The kit's Modulo 1 copies as their fields' prefixes: m1, m1#2..."""
    return sorted({k.split(".", 1)[0] for k in readings if k.startswith("m1")})


#: Form pages every application writes on: Modulo 1 pages 1 and 2 (the pages of
#: `REQUIRED_FIELDS`: surname, name, motivo; birth date, citizenship) and 3 (section 7, the
#: address in Italy, which section 8 is left blank beside: MOD.209 note q); a Modulo 2 that
#: is in the envelope declares an income (Foglio Note f): its page 1 names the Questore and
#: the activity, its page 3 the yearly income and its year.
WRITTEN_PAGES = {"m1": frozenset({*REQUIRED_FIELDS.values(), 3}), "m2": frozenset({1, 3})}
#: What a page that reads empty may still read: one field of at most this many characters,
#: a speck the scan left of erased writing (NIST seed 10040: the second applicant's page 3
#: read "1" in its address, six fields accepted empty).
STRAY_CHARS = 2


def reads_empty(r: FieldReading) -> bool:
    return r.value in ("", False, None)


def must_be_written(form: str, number: int, readings: dict[str, FieldReading]) -> bool:
    """A page every application writes on whose every field reads empty, but for a stray
    speck (`STRAY_CHARS`): its ink is faint or the scan's threshold erased it (NIST seed
    9750: a 200 dpi bitonal page 1 came out white, 30 fields read empty and accepted; seed
    9890: a Modulo 2 page 1, 9 fields). Nothing on it can be accepted as read."""
    if number not in WRITTEN_PAGES.get(form, ()):
        return False
    written = [r.value for r in readings.values() if not reads_empty(r)]
    return not written or (len(written) == 1 and isinstance(written[0], str)
                           and len(written[0].replace(" ", "")) <= STRAY_CHARS)


#: Why an empty field is not accepted: on a written page that reads empty, required, or in
#: a child's block the declared number of children says is written.
EMPTY_WHY = ("form_page_reads_empty", "required_field_empty", "declared_child_reads_empty")
#: Why a field on a page written in faint cells is not accepted (`faint_pages`).
FAINT_WHY = "faint_writing"

#: A form page whose written cells are mostly faint (`cell_crops.FAINT_TRACES`: strokes a
#: bitonal scan broke into specks), at least this many of them, cannot be read: its fields
#: holding faint cells are listed as not read (unreadable_page) rather than taken as the
#: partial readings the specks give. NIST anomalies seed 917: a light pen's page 2 read as
#: codes "LO", "Y" and dates "011914", "0    11", raising five blocking anomalies.
FAINT_PAGE_CELLS = 6


def faint_pages(pending) -> dict[int, list[str]]:
    """Per page index, the fields holding faint cells, where the page's faint cells are
    `FAINT_PAGE_CELLS` or more and at least as many as its solidly written ones."""
    faint: dict[int, list[str]] = {}
    weak, solid = Counter(), Counter()
    for key, r, i, _ in pending:
        # comb cells only: a written Questore's line holds ink too (`FieldReading.filled`)
        written = [conf for on, conf in r.filled if on] if r.dist is not None else []
        n = written.count(FAINT_CONFIDENCE)
        weak[i] += n
        solid[i] += len(written) - n
        if n:
            faint.setdefault(i, []).append(key)
    return {i: keys for i, keys in faint.items()
            if weak[i] >= FAINT_PAGE_CELLS and weak[i] >= solid[i]}


def declared_children_empty(readings: dict[str, FieldReading]) -> set[str]:
    """The fields of each child block (section 12) that the copy's declared number of
    children (m1.26) says is written but that reads empty: ink the scan erased, or a child
    left out (children_count_mismatch weighs which). NIST seed 9670: a child's whole block
    came out white from a 200 dpi bitonal scan, its 7 fields accepted empty."""
    out: set[str] = set()
    for o in m1_copies(readings):
        count = readings.get(f"{o}.26")
        if count is None or not isinstance(count.value, str) or not count.value.isascii() \
                or not count.value.isdigit():
            continue
        blocks = [[k for n in range(first, first + 7) if (k := f"{o}.{n}") in readings]
                  for first in CHILD_BLOCKS]
        empty = [b for b in blocks if b and all(reads_empty(readings[k]) for k in b)]
        written = sum(1 for b in blocks if b) - len(empty)
        # fewer written than declared: the first empty blocks, as many as are missing
        out.update(k for b in empty[:max(int(count.value) - written, 0)] for k in b)
    return out


def required(key: str) -> bool:
    form, _, field_id = key.partition(".")
    return form.startswith("m1") and field_id in REQUIRED_FIELDS
