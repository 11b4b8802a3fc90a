"""Damaged inputs for robustness checks of the intake, and the audit of what became of them.

`seed_inputs` makes small good scans of every kind the intake reads (a PDF of Flate images,
a PDF of a JPEG, a G4 and an LZW multi-page TIFF, a PNG, a JPEG); `damaged_inputs` damages
them with a seeded generator: cut short anywhere (in the header, the directory chain, the
image data), bytes flipped, a run of bytes zeroed. `audit` checks the index after a run:
every batch finished (none left "running"), every page of every input in one kit record or
in quarantine (`pipeline.process.account_pages`), and every input read or quarantined with
a reason.

tests/test_fuzz_intake.py runs a few dozen of them in process; `plico bench fuzz` runs
hundreds through `plico process`, between good kits, and prints the counts.
"""

from __future__ import annotations

import io
import json
import random
from collections import Counter
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image
from sqlalchemy import select

from storage import db

DAMAGE = ("truncate", "flip", "zero")


def _page(seed: int, shape: tuple[int, int] = (283, 200)) -> np.ndarray:
    """A small form-like grey page (200 x 283 pixels, declared 50 dpi: the lowest plausible
    resolution, so that a PDF page is rendered at it): a frame, rows of boxes, some text."""
    h, w = shape
    page = np.full((h, w), 240, dtype=np.uint8)
    cv2.rectangle(page, (8, 8), (w - 8, h - 8), 0, 1)
    cv2.putText(page, f"MOD {seed}", (14, 26), cv2.FONT_HERSHEY_SIMPLEX, 0.4, 0, 1)
    for row in range(8):
        y = 40 + row * 26
        for k in range(10):
            cv2.rectangle(page, (20 + k * 16, y), (32 + k * 16, y + 14), 30, 1)
    noise = np.random.default_rng(seed).normal(0, 6, (h, w))
    return np.clip(page + noise, 0, 255).astype(np.uint8)


def _encode(image: np.ndarray, fmt: str, **opts) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format=fmt, dpi=(50, 50), **opts)
    return buf.getvalue()


def _tiff(frames: list[Image.Image], **opts) -> bytes:
    buf = io.BytesIO()
    frames[0].save(buf, format="TIFF", save_all=True, append_images=frames[1:], dpi=(50, 50),
                   **opts)
    return buf.getvalue()


def seed_inputs() -> dict[str, bytes]:
    """Good inputs, a few KB each, by file name (the extension says the kind)."""
    import img2pdf

    pages = [_page(k) for k in range(3)]
    return {
        "flate.pdf": img2pdf.convert([_encode(p, "PNG") for p in pages[:2]]),
        "dct.pdf": img2pdf.convert([_encode(pages[2], "JPEG", quality=80)]),
        "g4.tif": _tiff([Image.fromarray(p > 128) for p in pages], compression="group4"),
        "lzw.tif": _tiff([Image.fromarray(p) for p in pages[:2]], compression="tiff_lzw"),
        "grey.png": _encode(pages[0], "PNG"),
        "photo.jpg": _encode(pages[1], "JPEG", quality=75),
    }


def damage(data: bytes, how: str, rng: random.Random) -> bytes:
    """`data` cut short, with 1-16 bytes flipped, or with a run of up to 64 bytes zeroed."""
    if how == "truncate":
        # half the cuts in the first 2 KB (headers, directories), half anywhere
        hi = min(len(data) - 1, 2048) if rng.random() < 0.5 else len(data) - 1
        return data[: rng.randint(1, hi)]
    out = bytearray(data)
    if how == "flip":
        for _ in range(rng.randint(1, 16)):
            out[rng.randrange(len(out))] ^= rng.randint(1, 255)
    elif how == "zero":
        start = rng.randrange(len(out))
        end = min(len(out), start + rng.randint(1, 64))
        out[start:end] = bytes(end - start)
    else:
        raise ValueError(f"unknown damage {how!r}")
    return bytes(out)


@dataclass(frozen=True, slots=True)
class Damaged:
    name: str  # <n>-<how>-<seed input name>: unique, and says what was done
    data: bytes
    source: str
    how: str


def damaged_inputs(count: int, seed: int,
                   seeds: dict[str, bytes] | None = None) -> list[Damaged]:
    """`count` damaged inputs, cycling over the seed inputs and the kinds of damage; the same
    (count, seed), the same bytes."""
    seeds = seeds or seed_inputs()
    rng = random.Random(seed)
    names = sorted(seeds)
    out = []
    for n in range(count):
        source = names[n % len(names)]
        how = DAMAGE[(n // len(names)) % len(DAMAGE)]
        out.append(Damaged(f"{n:04d}-{how}-{source}", damage(seeds[source], how, rng),
                           source, how))
    return out


@dataclass
class Audit:
    """What became of the inputs of some batches."""

    batches: int = 0
    stuck: list[str] = field(default_factory=list)  # batches not "done"
    unaccounted: list[str] = field(default_factory=list)  # account_pages problems
    silent: list[str] = field(default_factory=list)  # inputs with no page and no reason
    outcomes: Counter = field(default_factory=Counter)  # read / partly read / quarantined
    codes: Counter = field(default_factory=Counter)  # quarantine codes, orphans aside
    by_input: dict[str, str] = field(default_factory=dict)  # input name -> outcome

    @property
    def ok(self) -> bool:
        return not (self.stuck or self.unaccounted or self.silent)


def audit(rt, batch_ids: list[str] | None = None) -> Audit:
    """Check the batches (default: all in the index): finished, every page accounted for,
    and each input read (pages counted; a page belonging to no kit is quarantined as an
    orphan, which is a page read), partly read, or quarantined whole with a reason."""
    from pipeline.process import account_pages

    result = Audit()
    with rt.session() as s:
        query = select(db.Batch.id, db.Batch.status)
        if batch_ids is not None:
            query = query.where(db.Batch.id.in_(batch_ids))
        batches = s.execute(query).all()
    for batch_id, status in batches:
        result.batches += 1
        if status != "done":
            result.stuck.append(f"{batch_id} {status}")
        result.unaccounted += [f"{batch_id}: {p}" for p in account_pages(rt, batch_id)]
        with rt.session() as s:
            inputs = s.scalars(select(db.Input).where(db.Input.batch_id == batch_id)).all()
            items = s.scalars(select(db.QuarantineItem).where(
                db.QuarantineItem.batch_id == batch_id)).all()
            for i in inputs:
                mine = [q for q in items if q.sha256 == i.sha256]
                faults = [q for q in mine if q.code != "OrphanPageError"]
                result.codes.update(q.code for q in faults)
                if not i.pages:
                    whole = [q for q in faults if q.pages is None and q.reason]
                    outcome = "quarantined" if whole else "silent"
                    if not whole:
                        result.silent.append(f"{batch_id}: {i.original_name}")
                else:
                    outcome = "partly read" if faults else "read"
                result.outcomes[outcome] += 1
                result.by_input[i.original_name] = outcome
    return result


@dataclass
class FuzzRun:
    """The counts `plico bench fuzz` prints."""

    damaged: int = 0
    good: int = 0
    runs: int = 0
    crashes: list[str] = field(default_factory=list)  # exit not 0/10, a traceback, a timeout
    kits_missing: list[str] = field(default_factory=list)  # a good kit without its record
    audit: Audit = field(default_factory=Audit)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        a = self.audit
        return [
            f"{self.damaged} damaged inputs and {self.good} good ones in {self.runs} runs of "
            f"`plico process`, {a.batches} batches, {self.seconds:.0f} s",
            f"crashes (exit other than 0/10, traceback, timeout): {len(self.crashes)}",
            f"batches not finished (left running or failed): {len(a.stuck)}",
            f"pages not accounted for: {len(a.unaccounted)}",
            f"inputs neither read nor quarantined with a reason: {len(a.silent)}",
            f"good kits without their record: {len(self.kits_missing)}",
            "inputs: " + ", ".join(f"{k} {v}" for k, v in sorted(a.outcomes.items())),
            "quarantine codes (orphan pages aside): "
            + ", ".join(f"{k} {v}" for k, v in sorted(a.codes.items())),
        ]


def _merge(into: Audit, more: Audit) -> None:
    into.batches += more.batches
    into.stuck += more.stuck
    into.unaccounted += more.unaccounted
    into.silent += more.silent
    into.outcomes.update(more.outcomes)
    into.codes.update(more.codes)
    into.by_input.update(more.by_input)


def run_fuzz(count: int, seed: int, workdir, per_run: int = 50, timeout_s: int = 900,
             echo=print) -> FuzzRun:
    """`count` damaged inputs through `plico process`, `per_run` at a time, each run between
    two good generated kits and with the undamaged seed inputs among the damaged ones; every
    run in a data folder of its own, audited after."""
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    from pipeline.runtime import open_runtime
    from pipeline.settings import Settings
    from sample_scans.synth.batch import SynthOptions, write_batch

    started = time.perf_counter()
    root = Path(workdir)
    kits = [write_batch(SynthOptions(seed=s, kits=1, dpi=200, filled_by="typed",
                                     mode="bitonal"), root / f"kit-{s}").files[0]
            for s in (4243, 4244)]
    seeds = seed_inputs()
    damaged = damaged_inputs(count, seed, seeds)
    plico = str(Path(sys.executable).with_name("plico"))
    result = FuzzRun(damaged=count)
    for start in range(0, count, per_run):
        run = root / f"run-{start // per_run:03d}"
        folder = run / "in"
        folder.mkdir(parents=True)
        inputs = [kits[0]]
        for k, d in enumerate(damaged[start : start + per_run]):
            if k % 10 == 0:  # an undamaged seed input every 10 damaged ones
                name = sorted(seeds)[(start + k) // 10 % len(seeds)]
                good = folder / f"good-{start + k:04d}-{name}"
                good.write_bytes(seeds[name])
                inputs.append(good)
                result.good += 1
            (folder / d.name).write_bytes(d.data)
            inputs.append(folder / d.name)
        inputs.append(kits[1])
        result.good += 2
        env = {**os.environ, "PLICO_DATA_DIR": str(run / "data")}
        env.pop("PLICO_DATABASE_URL", None)
        env.pop("PLICO_STORAGE_URL", None)
        env.pop("PLICO_BROKER_URL", None)
        try:
            res = subprocess.run([plico, "process", *map(str, inputs), "--out", str(run / "out")],
                                 capture_output=True, text=True, env=env, timeout=timeout_s)
            if res.returncode not in (0, 10) or "Traceback" in res.stderr:
                result.crashes.append(f"{run.name}: exit {res.returncode}")
                (run / "stderr.txt").write_text(res.stderr)
        except subprocess.TimeoutExpired:
            result.crashes.append(f"{run.name}: timed out after {timeout_s} s")
        result.runs += 1
        found = audit(open_runtime(Settings(data_dir=run / "data")))
        _merge(result.audit, found)
        # the JSON, not the Record model: a run reads the code of its time, the audit too
        sources = {p["source"] for f in (run / "out").glob("*.json")
                   for p in json.loads(f.read_text())["kit"]["pages"]}
        result.kits_missing += [f"{run.name}: {k.name}" for k in kits if k.name not in sources]
        echo(f"{run.name}: {len(inputs)} inputs, {len(result.crashes)} crashes so far, "
             f"audit {'clean' if found.ok else 'NOT clean'}")
    result.seconds = time.perf_counter() - started
    return result
