"""Load and validate the MOD.209 form model from its data files.

Data files (pipeline/form/data/):

- ``modulo1-p1-3.official.yaml``: the official cell geometry of Modulo 1 pages 1-3, copied
  unchanged from shared/mod209 (its header names the source PDF and its hash);
- ``modulo1-p4-8.yaml`` and ``modulo2.yaml``: our layout of the other pages on the same grid
  (made by tools/layout_unofficial_pages.py);
- ``layout-p1-3.yaml``: section titles and cell-less numbered headings of pages 1-3, and the
  header boxes of page 1 that belong to no field (revenue stamp, Codice Istanza).

Units are PDF points with the origin at the page's top-left corner.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

from pipeline.errors import FormModelError
from pipeline.yamldata import load_yaml

FORMS = ("m1", "m2")
PAGE_COUNT = {"m1": 8, "m2": 3}
NOTE_LETTERS = frozenset("abcdefghijklmnopqrstuvwxy")
TABLES = frozenset({"province", "motivo", "stato", "documento", "autorita", "stato_civile", "sesso"})


class FieldKind(StrEnum):
    TEXT = "text"
    DIGITS = "digits"
    DATE = "date"
    CODE = "code"
    CHECK = "check"
    SIGNATURE = "signature"
    LINE = "line"


@dataclass(frozen=True, slots=True)
class Cell:
    """One printed box, in points, origin top-left."""

    x: float
    y: float
    w: float
    h: float

    @property
    def x2(self) -> float:
        return self.x + self.w

    @property
    def y2(self) -> float:
        return self.y + self.h

    def overlaps(self, other: Cell) -> bool:
        return self.x < other.x2 and other.x < self.x2 and self.y < other.y2 and other.y < self.y2


@dataclass(frozen=True, slots=True)
class Run:
    """A row of equal cells."""

    x: float
    y: float
    count: int
    width: float
    height: float
    pitch: float

    @property
    def cells(self) -> tuple[Cell, ...]:
        return tuple(
            Cell(self.x + i * self.pitch, self.y, self.width, self.height) for i in range(self.count)
        )


@dataclass(frozen=True, slots=True)
class Field:
    """One numbered field of the form."""

    form: str
    page: int
    id: str
    kind: FieldKind
    label: str
    runs: tuple[Run, ...] = ()
    box: Cell | None = None  # line and signature fields
    options: tuple[tuple[str, Cell], ...] = ()  # check fields with named boxes (SI / NO)
    note: str | None = None
    table: str | None = None
    uncertain: str | None = None
    official: bool = False

    @property
    def key(self) -> str:
        """The field's id in records and truth: ``m1.25``, ``m2.53``."""
        return f"{self.form}.{self.id}"

    @property
    def cells(self) -> tuple[Cell, ...]:
        """Every box of the field in reading order (option boxes in their order)."""
        if self.options:
            return tuple(cell for _, cell in self.options)
        return tuple(c for run in self.runs for c in run.cells)

    @property
    def bbox(self) -> Cell:
        boxes = list(self.cells) + ([self.box] if self.box else [])
        x1 = min(b.x for b in boxes)
        y1 = min(b.y for b in boxes)
        x2 = max(b.x2 for b in boxes)
        y2 = max(b.y2 for b in boxes)
        return Cell(x1, y1, x2 - x1, y2 - y1)


@dataclass(frozen=True, slots=True)
class Heading:
    """A numbered label that owns no cells (e.g. 7 "Richiede il")."""

    id: str
    x: float
    y: float
    text: str
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Section:
    y: float
    title: str
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    form: str
    number: int
    width: float
    height: float
    fields: tuple[Field, ...]
    headings: tuple[Heading, ...] = ()
    sections: tuple[Section, ...] = ()
    official: bool = False
    # printed boxes that belong to no field, by name: the revenue-stamp space
    # (``marca_da_bollo``) and the Codice Istanza barcode space (``codice_istanza``)
    boxes: tuple[tuple[str, Cell], ...] = ()

    @property
    def name(self) -> str:
        """``m1p1`` ... ``m2p3``: the page kind used in records and truth."""
        return f"{self.form}p{self.number}"


@dataclass(frozen=True)
class FormModel:
    pages: tuple[Page, ...]
    default_cell: tuple[float, float, float]  # width, height, pitch
    _by_key: dict[str, Field] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for page in self.pages:
            for f in page.fields:
                self._by_key[f.key] = f

    def field(self, key: str) -> Field:
        """A field by its key (``m1.25``); a second Modulo 1's ``m1#2.25`` maps to ``m1.25``."""
        form, _, fid = key.partition(".")
        try:
            return self._by_key[f"{form.split('#')[0]}.{fid}"]
        except KeyError:
            raise KeyError(f"no field {key!r} in the form model") from None

    def page(self, form: str, number: int) -> Page:
        for p in self.pages:
            if p.form == form and p.number == number:
                return p
        raise KeyError(f"no page {number} in {form}")

    def fields(self, form: str | None = None) -> Iterator[Field]:
        for p in self.pages:
            if form is None or p.form == form:
                yield from p.fields


def _read(name: str) -> dict[str, Any]:
    text = resources.files("pipeline.form").joinpath("data", name).read_text(encoding="utf-8")
    return load_yaml(text)


def _run(raw: list[float], default: tuple[float, float, float]) -> Run:
    if len(raw) == 3:
        x, y, n = raw
        w, h, pitch = default
    elif len(raw) == 6:
        x, y, n, w, h, pitch = raw
    else:
        raise FormModelError(f"a run has 3 or 6 numbers, not {raw!r}")
    return Run(float(x), float(y), int(n), float(w), float(h), float(pitch))


def _field(
    form: str, page: int, fid: str, raw: dict[str, Any], default: tuple[float, float, float],
    official: bool,
) -> Field:
    try:
        kind = FieldKind(raw["kind"])
    except (KeyError, ValueError):
        raise FormModelError(f"{form}.{fid}: missing or unknown kind {raw.get('kind')!r}") from None
    w, h, _ = default
    box = Cell(*map(float, raw["box"])) if "box" in raw else None
    options = tuple(
        (name, Cell(float(xy[0]), float(xy[1]), w, h)) for name, xy in raw.get("options", {}).items()
    )
    return Field(
        form=form,
        page=page,
        id=str(fid),
        kind=kind,
        label=str(raw.get("label", "")),
        runs=tuple(_run(r, default) for r in raw.get("runs", ())),
        box=box,
        options=options,
        note=raw.get("note"),
        table=raw.get("table"),
        uncertain=raw.get("uncertain"),
        official=official,
    )


def _page(
    form: str, number: int, raw: dict[str, Any], size: tuple[float, float],
    default: tuple[float, float, float], official: bool, furniture: dict[str, Any] | None,
) -> Page:
    furniture = furniture or {}
    fields_raw = raw["fields"] if "fields" in raw else raw
    fields = tuple(
        _field(form, number, str(fid), spec, default, official) for fid, spec in fields_raw.items()
    )
    headings = tuple(
        Heading(str(h["id"]), float(h["x"]), float(h["y"]), h["text"], h.get("note"))
        for h in raw.get("headings", []) + furniture.get("headings", [])
    )
    sections = tuple(
        Section(float(s["y"]), s["title"], s.get("note"))
        for s in raw.get("sections", []) + furniture.get("sections", [])
    )
    boxes = tuple(
        (str(b["name"]), Cell(*map(float, b["box"])))
        for b in raw.get("boxes", []) + furniture.get("boxes", [])
    )
    return Page(form, number, size[0], size[1], fields, headings, sections, official, boxes)


def validate(model: FormModel) -> None:
    """Raise FormModelError unless every page is consistent.

    Checks: the expected pages exist; ids are unique within a form; every field has cells or
    a box; every cell and every named page box lies inside its page; no two boxes of a page
    overlap; notes are Foglio Note letters and tables are known tables.
    """
    problems: list[str] = []
    for form in FORMS:
        numbers = sorted(p.number for p in model.pages if p.form == form)
        if numbers != list(range(1, PAGE_COUNT[form] + 1)):
            problems.append(f"{form}: pages {numbers}, expected 1..{PAGE_COUNT[form]}")
        seen: set[str] = set()
        for f in model.fields(form):
            if f.id in seen:
                problems.append(f"{f.key}: duplicate id")
            seen.add(f.id)
    for page in model.pages:
        boxes: list[tuple[str, Cell]] = []
        for f in page.fields:
            if not f.cells and f.box is None:
                problems.append(f"{f.key}: neither cells nor box")
            if f.note is not None and f.note not in NOTE_LETTERS:
                problems.append(f"{f.key}: unknown Foglio Note letter {f.note!r}")
            if f.kind is FieldKind.CODE and f.table not in TABLES:
                problems.append(f"{f.key}: code field with unknown table {f.table!r}")
            boxes.extend((f.key, c) for c in f.cells)
            if f.box is not None:
                boxes.append((f.key, f.box))
        names = [name for name, _ in page.boxes]
        if len(set(names)) != len(names):
            problems.append(f"{page.name}: duplicate box names {names}")
        boxes.extend((f"{page.name}.{name}", c) for name, c in page.boxes)
        for key, c in boxes:
            if c.x < 0 or c.y < 0 or c.x2 > page.width or c.y2 > page.height:
                problems.append(f"{key}: box {c} outside page {page.name}")
        boxes.sort(key=lambda kb: kb[1].x)
        for i, (key_a, a) in enumerate(boxes):
            for key_b, b in boxes[i + 1 :]:
                if b.x >= a.x2:
                    break
                if a.overlaps(b):
                    problems.append(f"{page.name}: {key_a} overlaps {key_b}")
    if problems:
        raise FormModelError("form model invalid:\n  " + "\n  ".join(problems))


@cache
def load_form_model() -> FormModel:
    """The validated model of all 11 pages (cached: it is immutable)."""
    official = _read("modulo1-p1-3.official.yaml")
    size = tuple(official["page_size"])
    dc = official["default_cell"]
    default = (float(dc["width"]), float(dc["height"]), float(dc["pitch"]))
    furniture = _read("layout-p1-3.yaml")["pages"]
    pages: list[Page] = []
    for number, raw in official["pages"].items():
        pages.append(_page("m1", int(number), raw, size, default, True, furniture.get(number)))
    for form, name in (("m1", "modulo1-p4-8.yaml"), ("m2", "modulo2.yaml")):
        for number, raw in _read(name)["pages"].items():
            pages.append(_page(form, int(number), raw, size, default, False, None))
    pages.sort(key=lambda p: (p.form, p.number))
    model = FormModel(tuple(pages), default)
    validate(model)
    return model
