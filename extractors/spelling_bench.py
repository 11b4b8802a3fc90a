"""``plico bench names``: names and streets in real hand print, decoded with and without the
spelling model (extractors/spelling.py).

Each name is written in a comb field by one NIST SD19 writer of the chosen split (`--writers
nist-bench`: writers neither the classifier nor the model's weight ever saw; `nist-cal`: the
writers the weight was chosen on), scanned at 200 or 300 dpi, grey or bitonal in turn, cut,
classified (the shipped CellNet), and decoded by `decode.decode_field` as the applicant's
surname (people's names) or address (streets), once as shipped and once with the model's
weight at 0 ("unspelt": each cell's likeliest letter, as before the model; an address's
street type and its words weighed against the word list, `lexicon`, in both). The names are the
generator's pools (sample_scans/synth/data/people.yaml: common given names and surnames of
the applicants' countries, and Italian streets), which the model was not estimated from;
people's names are reported apart as a town's name (a word of the gazetteer) or not.
"""

from __future__ import annotations

import time
from collections import defaultdict

import numpy as np

from extractors import decode, gazetteer, spelling
from extractors.cell_dist import from_probabilities
from extractors.cellnet import CellNetRecogniser
from extractors.cellnet_train import data
from extractors.recognise import TEXT, CellBatchItem
from pipeline.form import load_form_model
from pipeline.form.model import FieldKind
from sample_scans.synth import people

_SPLITS = {"nist-bench": "bench", "nist-cal": "val"}
_COMBOS = ((200, "grey"), (200, "bitonal"), (300, "grey"), (300, "bitonal"))


def _pools() -> dict[str, list[str]]:
    pools = people.data()
    names = sorted({n for nat in pools["nationalities"].values()
                     for key in ("male", "female", "surnames") for n in nat[key]})
    return {"name": names, "street": sorted(pools["streets"])}


def run(seed: int, n: int, writers: str = "nist-bench") -> str:
    if writers not in _SPLITS:
        raise ValueError(f"writers must be one of {sorted(_SPLITS)}, not {writers!r}")
    split = _SPLITS[writers]
    model = load_form_model()
    fields = {"name": model.field("m1.3"), "street": model.field("m1.68")}
    towns = {w for n in gazetteer.cities() for w in n.split()}
    rec = CellNetRecogniser()
    for source in spelling.SOURCES:
        spelling.model(source)  # built once per process, not timed
    rng = np.random.default_rng([seed, 31])
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # fields, before, now
    spent, decoded = 0.0, 0
    for kind, pool in _pools().items():
        f = fields[kind]
        for k in range(n):
            text = pool[int(rng.integers(len(pool)))]
            dpi, mode = _COMBOS[k % len(_COMBOS)]
            samples = data.render_field(rng, split, "nist", dpi, mode, text=text)
            if "".join(s.char for s in samples) != text.replace(" ", ""):
                continue  # a cell left empty by the scan: not a reading test
            probs = rec.probabilities([CellBatchItem(kind, FieldKind.TEXT, TEXT,
                                                     tuple(s.crop for s in samples))])[0]
            dist = from_probabilities(rec.classes, probs, TEXT)
            mask = [c != " " for c in text.ljust(len(f.cells))]
            want = text.replace(" ", "")
            t = time.perf_counter()
            now = decode.decode_field(f, dist, mask=mask).text
            spent += time.perf_counter() - t
            decoded += 1
            weight, spelling.WEIGHT = spelling.WEIGHT, 0.0
            try:
                before = decode.decode_field(f, dist, mask=mask).text
            finally:
                spelling.WEIGHT = weight
            group = kind if kind == "street" else (
                "name, a town's name" if all(w in towns for w in text.split())
                else "name, no town's name")
            for key in (group, "all"):
                row = tally[key]
                row[0] += 1
                row[1] += before == want
                row[2] += now == want
    lines = [f"plico bench names: seed {seed}, {n} names and {n} streets drawn, writers "
             f"{writers} (NIST SD19 {split} split), 200/300 dpi x grey/bitonal; spelling "
             f"weight {spelling.WEIGHT} (chosen on nist-cal)",
             f"{'fields':24} {'n':>5} {'unspelt':>12} {'spelt':>9}"]
    for key in ("name, no town's name", "name, a town's name", "street", "all"):
        if key in tally:
            total, before, now = tally[key]
            lines.append(f"{key:24} {total:5d} {100 * before / total:11.2f}% "
                         f"{100 * now / total:8.2f}%")
    lines.append(f"decoding: {1000 * spent / max(decoded, 1):.2f} ms a field")
    return "\n".join(lines)
