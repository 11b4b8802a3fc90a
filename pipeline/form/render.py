"""Plico's printable rendition of the blank MOD.209 form, drawn from the form model.

Two steps, kept apart so the geometry can be checked without looking at pixels:

- ``layout_page(page)`` turns a model page into the marks printed on it (cell frames, rules,
  text, section bars), each with its rectangle in the model's units (points, origin top-left),
  and refuses a layout where anything printed would touch a cell: the cell grid is what the
  pipeline detects and reads, so a label inside a cell would be read as handwriting;
- ``_paint`` draws those marks with reportlab (origin bottom-left).

``write_blank_pdf`` writes all 11 pages as one vector PDF; ``blank_page_image`` rasterises one
page with pdfium for the kit generator, which writes on it as an applicant would.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from pipeline.errors import FormModelError
from pipeline.form.model import PAGE_COUNT, Cell, Field, FieldKind, Page, load_form_model

REGULAR = "Helvetica"
BOLD = "Helvetica-Bold"
LINE = 0.6  # stroke of cells, boxes and rules, in points
LABEL_SIZE = 6.5
HEADING_SIZE = 7.0
# Helvetica's extent around the baseline as a share of the font size: capitals and accented
# lower case reach 0.77 above it, descenders 0.21 below (the AFM's 718 / -207, with margin).
ASCENT = 0.77
DESCENT = 0.21
CAP_MID = 0.36  # half of Helvetica's cap height (718/1000): baseline offset to centre capitals
CLEAR = 1.5  # the least white between a cell (outer edge of its stroke) and anything printed
GAP = 3.0  # between a label and the cell it names
MARGIN_X = 36.0  # no label starts left of this, nor ends right of the page width less it
LEFT, RIGHT = 45.23, 553.4  # the cell column of the official grid: titles and footers align on it
BAR_X = (41.0, 557.5)  # section bars span the cell column (45.2 .. 553.4) and a little more
BAR_HEIGHT = 13.0
SECTION_SIZE = 7.5
FOOTER_BASELINE = 827.0  # below the lowest cells of the official geometry (808.8 on m1p3)
CONTINUA_BASELINE = 806.0
FORM_TITLE = {"m1": "MODULO 1", "m2": "MODULO 2"}
FORM_NAME = {"m1": "Modulo 1", "m2": "Modulo 2"}
DISCLAIMER = {
    True: "Versione Plico del MOD.209 ricostruita dalla geometria pubblicata"
    " - non è il modulo ufficiale",
    False: "Versione Plico del MOD.209: pagina impaginata da Plico sulla griglia pubblicata"
    " - non è il modulo ufficiale",
}
CONTINUED = "(CONTINUA)"  # in a section title: the section goes on from the previous page


@dataclass(frozen=True, slots=True)
class Frame:
    """A stroked rectangle (cells, boxes) or, with ``fill``, a grey bar without stroke."""

    rect: Cell
    fill: float | None = None  # grey level 0..1


@dataclass(frozen=True, slots=True)
class Rule:
    """A horizontal ruled line to write on."""

    x1: float
    x2: float
    y: float


@dataclass(frozen=True, slots=True)
class Text:
    """One line of text made of spans (font, text), drawn from ``x`` on ``baseline``."""

    x: float
    baseline: float
    size: float
    spans: tuple[tuple[str, str], ...]

    @property
    def width(self) -> float:
        return sum(stringWidth(text, font, self.size) for font, text in self.spans)

    @property
    def rect(self) -> Cell:
        top = self.baseline - ASCENT * self.size
        return Cell(self.x, top, self.width, (ASCENT + DESCENT) * self.size)

    def moved(self, x: float, baseline: float) -> Text:
        return Text(x, baseline, self.size, self.spans)


Mark = Frame | Rule | Text


def _grow(c: Cell, d: float) -> Cell:
    return Cell(c.x - d, c.y - d, c.w + 2 * d, c.h + 2 * d)


def _cell_outline(c: Cell) -> Cell:
    """The ink of a cell: its rectangle plus half the stroke on each side."""
    return _grow(c, LINE / 2)


def _label(number: str | None, text: str, note: str | None, size: float) -> Text:
    spans: list[tuple[str, str]] = []
    if number:
        spans.append((BOLD, f"{number} " if text else number))
    if text:
        spans.append((REGULAR, text))
    if note:
        spans.append((REGULAR, f" ({note})"))
    return Text(0.0, 0.0, size, tuple(spans))


def _field_number(f: Field) -> str | None:
    # the header fields (questore, questore_sigla) carry no printed number
    return f.id if f.id.isdigit() else None


class _Sheet:
    """The marks of one page so far, and the room left between them."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.marks: list[Mark] = []
        # every printed box of a field: nothing else may come near them
        self.cells = [_cell_outline(c) for f in page.fields for c in f.cells]
        self.cells += [_cell_outline(f.box) for f in page.fields if f.box is not None]
        self.taken: list[Cell] = [_grow(c, CLEAR) for c in self.cells]
        self.taken += [_grow(_cell_outline(c), CLEAR) for _, c in page.boxes]

    def free(self, rect: Cell) -> bool:
        inside = (
            rect.x >= MARGIN_X
            and rect.x2 <= self.page.width - MARGIN_X
            and rect.y >= 0
            and rect.y2 <= self.page.height
        )
        return inside and not any(rect.overlaps(t) for t in self.taken)

    def add(self, mark: Mark, *, check: bool = True) -> None:
        rect = _rect(mark)
        if check and not self.free(rect):
            raise FormModelError(
                f"{self.page.name}: {_describe(mark)} at {_fmt(rect)} collides with a cell,"
                " a box or another label"
            )
        self.marks.append(mark)
        self.taken.append(rect)

    def place(self, candidates: Iterable[tuple[Text, ...]], what: str) -> None:
        """Add the first candidate (a label as one or more lines) that finds room."""
        tried: list[str] = []
        for lines in candidates:
            if lines and all(self.free(line.rect) for line in lines):
                for line in lines:
                    self.add(line)
                return
            tried.extend(_fmt(line.rect) for line in lines)
        raise FormModelError(
            f"{self.page.name}: no room for the label of {what} (tried {', '.join(tried)});"
            " change its layout (tools/layout_unofficial_pages.py)"
        )


def _rect(mark: Mark) -> Cell:
    if isinstance(mark, Text):
        return mark.rect
    if isinstance(mark, Rule):
        return Cell(mark.x1, mark.y - LINE / 2, mark.x2 - mark.x1, LINE)
    return mark.rect if mark.fill is not None else _cell_outline(mark.rect)


def _describe(mark: Mark) -> str:
    if isinstance(mark, Text):
        return "".join(text for _, text in mark.spans)
    return type(mark).__name__.lower()


def _fmt(c: Cell) -> str:
    return f"[{c.x:.1f}, {c.y:.1f}, {c.w:.1f}, {c.h:.1f}]"


def _two_lines(text: Text) -> tuple[Text, Text] | None:
    """``text`` broken at the word boundary that makes its longer line shortest."""
    words = [(font, word) for font, span in text.spans for word in span.split()]
    if len(words) < 2:
        return None

    def line(part: list[tuple[str, str]]) -> Text:
        spans = tuple((font, word + (" " if i < len(part) - 1 else ""))
                      for i, (font, word) in enumerate(part))
        return Text(0.0, 0.0, text.size, spans)

    splits = [(line(words[:i]), line(words[i:])) for i in range(1, len(words))]
    return min(splits, key=lambda pair: max(pair[0].width, pair[1].width))


def _left_of(anchor: Cell, text: Text, gap: float = GAP) -> tuple[Text, ...]:
    """Right-aligned ``gap`` before ``anchor``, capitals centred on it."""
    baseline = anchor.y + anchor.h / 2 + CAP_MID * text.size
    return (text.moved(anchor.x - gap - text.width, baseline),)


def _left_of_wrapped(anchor: Cell, text: Text) -> tuple[Text, ...]:
    """As ``_left_of``, on two lines: where the official rows leave no room above a field and
    too little to its left for one line (m1.43: "Specificare documento")."""
    pair = _two_lines(text)
    if pair is None:
        return ()
    leading = 1.15 * text.size
    first = anchor.y + anchor.h / 2 - leading / 2 + CAP_MID * text.size
    return tuple(line.moved(anchor.x - GAP - line.width, first + i * leading)
                 for i, line in enumerate(pair))


def _above(anchor: Cell, text: Text) -> tuple[Text, ...]:
    """Left-aligned on ``anchor``, descenders just clear of its stroke."""
    return (text.moved(anchor.x, anchor.y - LINE / 2 - CLEAR - DESCENT * text.size - 0.2),)


def _lay_field(sheet: _Sheet, f: Field) -> None:
    label = _label(_field_number(f), f.label, f.note, LABEL_SIZE)
    if f.kind in (FieldKind.LINE, FieldKind.SIGNATURE) and f.box is None:
        raise FormModelError(f"{f.key}: a {f.kind} field needs its box")
    if f.kind is FieldKind.LINE:
        # written on: the label stands on the line, left of it
        sheet.add(Rule(f.box.x, f.box.x2, f.box.y2), check=False)
        label = _label(None, f.label, f.note, HEADING_SIZE)
        sheet.place([(label.moved(f.box.x - GAP - label.width, f.box.y2 - 2.0),)], f.key)
        return
    if f.kind is FieldKind.SIGNATURE:
        sheet.add(Frame(f.box), check=False)
        sheet.place([_above(f.box, label), _left_of(f.box, label)], f.key)
        return
    for c in f.cells:
        sheet.add(Frame(c), check=False)
    first = anchor = f.cells[0]
    gap = GAP
    for name, c in f.options:
        option = _label(name, "", None, LABEL_SIZE)
        sheet.place([_left_of(c, option)], f"{f.key} option {name}")
        # the field's label goes before the leftmost option's name, not between a name and
        # its box, and further from it so that the name reads as the box's own
        x = sheet.marks[-1].rect.x
        if x < anchor.x:
            anchor, gap = Cell(x, c.y, c.x2 - x, c.h), 3 * GAP
    sheet.place(
        [_left_of(anchor, label, gap), _above(first, label), _left_of_wrapped(anchor, label)],
        f.key,
    )


def _lay_title(sheet: _Sheet, page: Page) -> None:
    # every page names its form, as printed forms do; page 1 in full size
    size = 11.0 if page.number == 1 else 8.0
    sheet.add(Text(LEFT, 38.0, size, ((BOLD, f"MOD. 209 - {FORM_TITLE[page.form]}"),)))


def _lay_header(sheet: _Sheet, page: Page) -> None:
    """The page's named boxes that belong to no field (page 1 of each Modulo)."""
    for name, box in page.boxes:
        sheet.add(Frame(box), check=False)
        if name == "marca_da_bollo":
            # printed inside: the stamp is stuck over it, as on the official form
            lines = ("Spazio per la", "marca da bollo", "da € 16,00")
            step = LABEL_SIZE * 1.35
            first = box.y + box.h / 2 - step * (len(lines) - 1) / 2 + CAP_MID * LABEL_SIZE
            for i, line in enumerate(lines):
                text = Text(0.0, first + i * step, LABEL_SIZE, ((REGULAR, line),))
                sheet.add(text.moved(box.x + (box.w - text.width) / 2, text.baseline),
                          check=False)
        elif name == "codice_istanza":
            # printed above: the inside is left blank for Poste's barcode label
            caption = Text(0.0, 0.0, LABEL_SIZE,
                           ((BOLD, "Codice Istanza"), (REGULAR, " - spazio per codice a barre")))
            sheet.place([_above(box, caption)], name)
        else:
            raise FormModelError(f"{page.name}: no caption for the header box {name!r}")


def _lay_furniture(sheet: _Sheet, page: Page) -> None:
    for s in page.sections:
        bar = Frame(Cell(BAR_X[0], s.y, BAR_X[1] - BAR_X[0], BAR_HEIGHT), fill=0.85)
        sheet.add(bar)
        words = s.title + (f" ({s.note})" if s.note else "")
        baseline = s.y + BAR_HEIGHT / 2 + CAP_MID * SECTION_SIZE
        title = Text(LEFT + 1, baseline, SECTION_SIZE, ((BOLD, words),))
        sheet.add(title, check=False)  # inside its own bar, which was checked
    for h in page.headings:
        number = h.id if h.id.isdigit() else None
        text = _label(number, h.text, h.note, HEADING_SIZE)
        sheet.add(text.moved(h.x, h.y + ASCENT * HEADING_SIZE))


def _lay_footer(sheet: _Sheet, page: Page, continues: bool) -> None:
    total = PAGE_COUNT[page.form]
    where = Text(LEFT, FOOTER_BASELINE, 6.5,
                 ((BOLD, f"{FORM_NAME[page.form]} - pagina {page.number} di {total}"),))
    sheet.add(where)
    note = Text(0.0, FOOTER_BASELINE, 5.5, ((REGULAR, DISCLAIMER[page.official]),))
    sheet.add(note.moved(RIGHT - note.width, FOOTER_BASELINE))
    if continues:
        more = Text(0.0, CONTINUA_BASELINE, 8.0, ((BOLD, "CONTINUA"),))
        sheet.add(more.moved(RIGHT - more.width, CONTINUA_BASELINE))


def layout_page(page: Page, continues: bool = False) -> tuple[Mark, ...]:
    """Everything printed on ``page``, in the model's units (points, origin top-left).

    ``continues``: print "CONTINUA" at the bottom (the page's last section goes on).
    Raises FormModelError when a label finds no room or anything printed would touch a cell.
    """
    sheet = _Sheet(page)
    _lay_title(sheet, page)
    _lay_header(sheet, page)
    _lay_furniture(sheet, page)
    for f in page.fields:
        _lay_field(sheet, f)
    _lay_footer(sheet, page, continues)
    # the last word, whatever path a mark took: no text and no bar on a cell (stroked frames
    # and rules are the form's own boxes, which the model's validate() keeps apart)
    for mark in sheet.marks:
        if isinstance(mark, Text) or (isinstance(mark, Frame) and mark.fill is not None):
            if any(_rect(mark).overlaps(c) for c in sheet.cells):
                raise FormModelError(f"{page.name}: {_describe(mark)!r} overlaps a cell")
    return tuple(sheet.marks)


def _continues(page: Page) -> bool:
    """Whether the next page of the same Modulo opens with a section marked as continued."""
    if page.number >= PAGE_COUNT[page.form]:
        return False
    following = load_form_model().page(page.form, page.number + 1)
    return any(CONTINUED in s.title for s in following.sections)


def _paint(canvas: Canvas, page: Page, marks: Iterable[Mark]) -> None:
    h = page.height
    canvas.setLineWidth(LINE)
    canvas.setStrokeGray(0)
    for mark in marks:
        if isinstance(mark, Frame):
            r = mark.rect
            if mark.fill is None:
                canvas.rect(r.x, h - r.y2, r.w, r.h, stroke=1, fill=0)
            else:
                canvas.setFillGray(mark.fill)
                canvas.rect(r.x, h - r.y2, r.w, r.h, stroke=0, fill=1)
                canvas.setFillGray(0)
        elif isinstance(mark, Rule):
            canvas.line(mark.x1, h - mark.y, mark.x2, h - mark.y)
        else:
            x = mark.x
            for font, text in mark.spans:
                canvas.setFont(font, mark.size)
                canvas.drawString(x, h - mark.baseline, text)
                x += stringWidth(text, font, mark.size)


def _pdf_bytes(pages: tuple[Page, ...]) -> bytes:
    out = io.BytesIO()
    # invariant=1: no creation date or random document id, so equal input gives equal bytes
    canvas = Canvas(out, pagesize=(pages[0].width, pages[0].height), invariant=1)
    canvas.setTitle("MOD.209 - versione Plico (non ufficiale)")
    canvas.setAuthor("Plico")
    canvas.setCreator("Plico pipeline.form.render")
    for page in pages:
        canvas.setPageSize((page.width, page.height))
        _paint(canvas, page, layout_page(page, _continues(page)))
        canvas.showPage()
    canvas.save()
    return out.getvalue()


def blank_pdf_bytes() -> bytes:
    """All 11 pages (Modulo 1 pages 1-8, Modulo 2 pages 1-3) as one PDF."""
    return _pdf_bytes(load_form_model().pages)


def write_blank_pdf(path: Path) -> None:
    """Write the blank form, all 11 pages, as one vector PDF (same bytes every time)."""
    path.write_bytes(blank_pdf_bytes())


@cache
def _page_pdf(form: str, number: int) -> bytes:
    return _pdf_bytes((load_form_model().page(form, number),))


# pdfium is not thread-safe (pypdfium2 documents this): one rendering at a time per process
_PDFIUM = threading.Lock()


@cache
def blank_page_image(form: str, number: int, dpi: int) -> np.ndarray:
    """One blank page at ``dpi`` as a read-only uint8 greyscale array, paper white (255).

    Shape: round(height * dpi / 72) x round(width * dpi / 72). Cached per (form, number, dpi).
    """
    if dpi <= 0:
        raise ValueError(f"dpi must be positive, not {dpi}")
    page = load_form_model().page(form, number)
    scale = dpi / 72
    width, height = round(page.width * scale), round(page.height * scale)
    data = _page_pdf(form, number)
    with _PDFIUM:
        pdf = pdfium.PdfDocument(data)
        try:
            # PdfPage.render sizes the bitmap with ceil() and stretches the page to fill it;
            # a plain scale matrix into a bitmap of the rounded size keeps every point at
            # exactly x * dpi / 72, which the cell positions of the kit's truth rely on
            bitmap = pdfium.PdfBitmap.new_native(width, height, pdfium_c.FPDFBitmap_Gray)
            bitmap.fill_rect((255, 255, 255, 255), 0, 0, width, height)
            matrix = pdfium_c.FS_MATRIX(scale, 0, 0, scale, 0, 0)
            clip = pdfium_c.FS_RECTF(0, 0, width, height)
            pdfium_c.FPDF_RenderPageBitmapWithMatrix(bitmap, pdf[0], matrix, clip, 0)
            image = np.array(bitmap.to_numpy(), dtype=np.uint8, copy=True)
            bitmap.close()
        finally:
            pdf.close()
    image.setflags(write=False)
    return image
