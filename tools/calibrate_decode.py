"""Fit the field decoder's confidence calibration and review threshold on validation kits.

    .venv/bin/python tools/calibrate_decode.py --seeds 6000-6015 --kits 3 --jobs 2

Generates hand-filled and typed kits of the validation seeds (never the bench's), their hand
written by writers the cell classifier never trained on (`--writers`, default nist-cal: the
NIST SD19 calibration writers, real handwriting, neither in training nor in any bench), at
200 and 300 dpi in turn, reads them with the cell classifier and the decoder with raw
posterior shares, fits an isotonic map
from share to measured accuracy, and picks the lowest threshold on the calibrated confidence
at which accepted filled fields of each fill (hand, typed) are right at least `--precision`
of the time. Writes
extractors/decode_calibration.json with the command, the counts and what was measured.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

OUT = Path(__file__).resolve().parent.parent / "extractors" / "decode_calibration.json"


def _samples(seed: int, kits: int, filled_by: str, dpi: int, root: Path,
             writers: str) -> list[tuple[float, bool, bool, str, int]]:
    """(raw share, right, accepted-if-confident, `decode.field_group`, seed) per filled comb
    field the classifier read."""
    from extractors import decode_calibration
    from extractors.cellnet import CellNetRecogniser
    from extractors.decode import field_group
    from extractors.fields import COMB_KINDS
    from pipeline.form import load_form_model
    from pipeline.process import process_batch
    from pipeline.settings import Settings
    from pipeline.truth import BatchTruth
    from sample_scans.synth.batch import SynthOptions, write_batch

    model = load_form_model()
    out = root / f"{seed}-{filled_by}"
    result = write_batch(SynthOptions(seed=seed, kits=kits, dpi=dpi, filled_by=filled_by,
                                      mode="mixed", writer_pool=writers), out / "batch")
    with decode_calibration.raw_confidences():
        _, records = process_batch(result.files[0], out / "out", Settings(data_dir=out / "data"),
                                   CellNetRecogniser())
    truth = BatchTruth.load(result.truth)
    rows = []
    for kt in truth.kits:
        first, last = kt.pages
        match = [r for r in records if [p.index for p in r.kit.pages] == list(range(first, last + 1))]
        if len(match) != 1:
            continue
        for key, want in kt.fields.items():
            fv = match[0].fields.get(key)
            if fv is None or model.field(key).kind not in COMB_KINDS or fv.value in ("", False):
                continue
            rows.append((fv.confidence, fv.value == want, fv.status == "accepted",
                         field_group(model.field(key)), seed))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="6000-6015", help="first-last validation seeds")
    ap.add_argument("--kits", type=int, default=3, help="kits per seed and fill")
    ap.add_argument("--dpis", default="200,300", help="scan resolutions, one per seed in turn")
    ap.add_argument("--writers", default="nist-cal",
                    help="hand-print writer pool (never the classifier's training writers)")
    ap.add_argument("--fills", default="hand,typed")
    ap.add_argument("--precision", type=float, default=0.995,
                    help="accepted filled fields right at least this share (goal 99.5%%)")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--jobs", type=int, default=1, help="kits read on this many processes")
    ap.add_argument("--dump", type=Path, help="also write every field's row (JSON lines)")
    args = ap.parse_args()
    from extractors.decode_calibration import isotonic

    a, _, b = args.seeds.partition("-")
    seeds = range(int(a), int(b or a) + 1)
    rows: list[tuple[float, bool, bool, str, int]] = []
    fills: list[str] = []
    with tempfile.TemporaryDirectory(prefix="plico-calib-") as tmp, \
            ProcessPoolExecutor(args.jobs) as pool:
        dpis = [int(d) for d in args.dpis.split(",")]
        runs = [(seed, fill, pool.submit(_samples, seed, args.kits, fill, dpis[k % len(dpis)],
                                          Path(tmp), args.writers))
                for k, seed in enumerate(seeds) for fill in args.fills.split(",")]
        for seed, fill, future in runs:  # in order: the same rows whatever --jobs
            got = future.result()
            print(f"seed {seed} {fill}: {len(got)} fields, {sum(r[1] for r in got)} right",
                  flush=True)
            rows += got
            fills += [fill] * len(got)
    if args.dump:
        args.dump.write_text("".join(json.dumps(dict(zip(("share", "right", "ok", "group", "seed",
                                                           "fill"), (*r, f)))) + "\n"
                                     for r, f in zip(rows, fills)))
    x = np.array([r[0] for r in rows])
    y = np.array([r[1] for r in rows], bool)
    ok = np.array([r[2] for r in rows], bool)  # not sent to review by the decoder itself
    fill_of = np.array(fills)
    kx, ky = isotonic(x, y)
    cal = np.interp(x, kx, ky)
    best = None
    # each fill on its own: typed fields, nearly all right, must not buy hand print a lower bar
    for t in sorted(set(np.round(cal, 4))):
        accepted = ok & (cal >= t)
        if accepted.sum() and all(y[accepted & (fill_of == f)].mean() >= args.precision
                                  for f in set(fills) if (accepted & (fill_of == f)).any()):
            best = float(t)
            break
    best = 1.0 if best is None else best
    accepted = ok & (cal >= best)
    fit = {
        "x": kx, "y": ky, "threshold": best,
        "made_by": (f"tools/calibrate_decode.py --seeds {args.seeds} --kits {args.kits} "
                    f"--dpis {args.dpis} --writers {args.writers} --fills {args.fills} "
                    f"--precision {args.precision}"),
        "fields": len(rows), "right_before_review": round(float(y.mean()), 4),
        "accepted_precision": round(float(y[accepted].mean()), 4) if accepted.any() else None,
        "review_share": round(float(1 - accepted.mean()), 4),
        "per_fill": {f: {"fields": int((fill_of == f).sum()),
                         "accepted_precision": round(float(y[accepted & (fill_of == f)].mean()), 4)
                         if (accepted & (fill_of == f)).any() else None,
                         "review_share": round(float(1 - accepted[fill_of == f].mean()), 4)}
                     for f in sorted(set(fills))},
    }
    data = json.loads(args.out.read_text()) if args.out.is_file() else {}
    data["cellnet"] = fit
    args.out.write_text(json.dumps(data, indent=1) + "\n")
    print(json.dumps({k: v for k, v in fit.items() if k not in ("x", "y")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
