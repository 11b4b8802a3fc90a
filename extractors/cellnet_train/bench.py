"""``plico bench cells``: CellNet and Tesseract on the same comb cells, none of them trained on.

Fields are rendered by `data.render_field` from the bench split only (the generator's
"bench" writers, MNIST's bench rows, NIST SD19's bench writers, the generator's five
Patronato fonts), 200 and 300 dpi,
grey and bitonal in turn, and cut with `extractors.cell_crops.cell_crop`. Each field is one
`CellBatchItem` with the alphabet its kind of field has (TEXT for names and addresses,
DIGITS for dates and numbers); fields go to the recognisers in page-sized batches of about
`PAGE_CELLS` cells, one `recognise` call per batch, as `extractors.fields` calls them.
Accuracy is per character; speed is CellNet's milliseconds per page-sized batch on one core
(preprocessing and one onnxruntime inference), median and worst.

Unlike a real page, the fields of a batch come from different writers (or fonts): the
Tesseract recogniser's page-wide glyph vote has less to work with on typed cells than on a
real printout, where one font fills the page.
"""

from __future__ import annotations

import time
from pathlib import Path
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from extractors.cellnet_train import data
from extractors.recognise import DIGITS, LETTERS, TEXT, CellBatchItem, CellRecogniser
from pipeline.form.model import FieldKind

PAGE_CELLS = 150
_COMBOS = ((200, "grey"), (200, "bitonal"), (300, "grey"), (300, "bitonal"))
# (group, source, alphabet of the fields)
_GROUPS = (
    ("hand text", "hand", TEXT),
    ("hand digit fields", "hand", DIGITS),
    ("MNIST digit fields", "mnist", DIGITS),
    ("typed text", "typed", TEXT),
    ("NIST letter fields", "nist", LETTERS),
    ("NIST digit fields", "nist", DIGITS),
)


@dataclass(frozen=True, slots=True)
class _Field:
    group: str
    item: CellBatchItem
    chars: tuple[str, ...]
    dpi: int
    mode: str


def render_fields(seed: int, n: int) -> list[_Field]:
    """About `n` filled cells per group, in fields."""
    out: list[_Field] = []
    for g, (group, source, alphabet) in enumerate(_GROUPS):
        rng = np.random.default_rng([seed, 77, g])
        cells, k = 0, 0
        while cells < n:
            dpi, mode = _COMBOS[k % len(_COMBOS)]
            samples = data.render_field(rng, "bench", source, dpi, mode, alphabet=alphabet)
            k += 1
            if not samples:
                continue
            kind = FieldKind.DIGITS if alphabet == DIGITS else FieldKind.TEXT
            item = CellBatchItem(f"{group}#{k}", kind, alphabet, tuple(s.crop for s in samples))
            out.append(_Field(group, item, tuple(s.char for s in samples), dpi, mode))
            cells += len(samples)
    return out


def _pages(fields: Sequence[_Field]) -> list[list[int]]:
    """Field indices in batches of about PAGE_CELLS cells, hand and typed never mixed."""
    pages: list[list[int]] = []
    size = 0
    for i, f in enumerate(fields):
        if not pages or size >= PAGE_CELLS or fields[pages[-1][0]].group != f.group:
            pages.append([])
            size = 0
        pages[-1].append(i)
        size += len(f.chars)
    return pages


def _read(rec: CellRecogniser, fields: Sequence[_Field],
          pages: Sequence[list[int]]) -> tuple[list[tuple[str, ...]], list[float]]:
    got: list[tuple[str, ...]] = [()] * len(fields)
    times = []
    for page in pages:
        t = time.perf_counter()
        results = rec.recognise([fields[i].item for i in page])
        times.append(time.perf_counter() - t)
        for i, (chars, _) in zip(page, results):
            got[i] = chars
    return got, times


def _rows(fields: Sequence[_Field], got: Sequence[Sequence[str]]) -> dict[str, tuple[int, int]]:
    """(right, cells) per reported class of character."""
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for f, chars in zip(fields, got):
        for want, ch in zip(f.chars, chars):
            if f.group == "hand text":
                name = ("hand letters" if want in LETTERS else
                        "hand digits, text fields" if want in DIGITS else "hand symbols")
            else:
                name = f.group
            for key in (name, f"{name} @{f.dpi} {f.mode}"):
                tally[key][0] += ch == want
                tally[key][1] += 1
    return {k: (v[0], v[1]) for k, v in tally.items()}


def run(seed: int, n: int, tesseract: bool = True, detail: bool = False,
        model_dir: Path | None = None) -> str:
    """The report; `model_dir` holds another cellnet.onnx/.json to measure (a model trained
    with a source left out, say) instead of the shipped one."""
    from extractors.cellnet import META_PATH, MODEL_PATH, CellNetRecogniser, load_model

    paths = ((model_dir / MODEL_PATH.name, model_dir / META_PATH.name) if model_dir
             else (MODEL_PATH, META_PATH))
    fields = render_fields(seed, n)
    pages = _pages(fields)
    net = CellNetRecogniser(*paths)
    net.recognise([fields[0].item])  # load and warm up outside the timing
    got, times = _read(net, fields, pages)
    rows = _rows(fields, got)
    # MNIST digits as they appear in text fields too: the alphabet lifted
    text_items = [CellBatchItem(f.item.key, FieldKind.TEXT, TEXT, f.item.crops)
                  for f in fields if f.group == "MNIST digit fields"]
    mnist_text = [f for f in fields if f.group == "MNIST digit fields"]
    lifted = net.recognise(text_items)
    right = sum(c == w for f, (chars, _) in zip(mnist_text, lifted)
                for w, c in zip(f.chars, chars))
    rows["MNIST digits, text alphabet"] = (right, sum(len(f.chars) for f in mnist_text))
    # NIST capitals with the alphabet lifted: what an address or free-text field sees
    nist_letters = [f for f in fields if f.group == "NIST letter fields"]
    lifted = net.recognise([CellBatchItem(f.item.key, FieldKind.TEXT, TEXT, f.item.crops)
                            for f in nist_letters])
    right = sum(c == w for f, (chars, _) in zip(nist_letters, lifted)
                for w, c in zip(f.chars, chars))
    rows["NIST letters, text alphabet"] = (right, sum(len(f.chars) for f in nist_letters))
    tess_rows: dict[str, tuple[int, int]] = {}
    tess_times: list[float] = []
    if tesseract:
        from extractors.recognise import TesseractCellRecogniser

        tess_got, tess_times = _read(TesseractCellRecogniser(), fields, pages)
        tess_rows = _rows(fields, tess_got)
    meta = load_model(*paths).meta
    trained_on = [k for k, w in meta["config"]["mix"] if w > 0]
    left_out = [s for s in data.SOURCES if s not in trained_on]
    lines = [
        (f"plico bench cells: seed {seed}, about {n} cells per group, bench writers, MNIST "
         "bench rows, NIST SD19 bench writers and the generator's Patronato fonts (never "
         "trained on), 200/300 dpi x grey/bitonal"),
        (f"model: {meta['parameters']} parameters, trained with seed {meta['config']['seed']} "
         f"on {meta['data']['train']} cells of sources {', '.join(trained_on)}"
         + (f"; left out of training: {', '.join(left_out)}" if left_out else "")),
        f"{'characters':34} {'cells':>6} {'cellnet':>9} {'tesseract':>10}",
    ]
    order = ["hand letters", "hand digits, text fields", "hand symbols", "hand digit fields",
             "MNIST digit fields", "MNIST digits, text alphabet", "typed text",
             "NIST letter fields", "NIST letters, text alphabet", "NIST digit fields"]
    keys = [k for k in order if k in rows]
    if detail:
        keys = [x for k in keys for x in [k] + sorted(r for r in rows if r.startswith(k + " @"))]
    for key in keys:
        r, c = rows[key]
        t = tess_rows.get(key)
        tess = f"{100 * t[0] / t[1]:9.2f}%" if t else f"{'-':>10}"
        lines.append(f"{key:34} {c:6d} {100 * r / c:8.2f}% {tess}")
    ms = np.array(times) * 1000
    sizes = [sum(len(fields[i].chars) for i in p) for p in pages]
    lines.append(f"cellnet: {np.median(ms):.1f} ms median, {ms.max():.1f} ms worst per batch of "
                 f"{int(np.median(sizes))} cells (one core, preprocessing included)")
    if tess_times:
        lines.append(f"tesseract-stacked: {1000 * np.median(tess_times):.0f} ms median per batch")
    errors = Counter((w, c) for f, chars in zip(fields, got) for w, c in zip(f.chars, chars)
                     if w != c)
    lines.append("cellnet's commonest confusions (want->got): "
                 + ", ".join(f"{w}->{c or '∅'} {k}" for (w, c), k in errors.most_common(12)))
    return "\n".join(lines)
