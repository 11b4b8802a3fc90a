"""Damaged inputs never stop a run: a seeded fuzz of the intake through `plico process`.

Truncations, flipped bytes and zeroed runs of small PDFs (Flate and DCT images), G4 and LZW
multi-page TIFFs, PNGs and JPEGs (pipeline/fuzz.py), plus the issue's own case (the sample
TIFF cut off inside its directory chain), given to one `plico process` between two real kits
and among the undamaged seed inputs. The longer run is `plico bench fuzz` (not a test)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pipeline import errors
from pipeline.fuzz import audit, damaged_inputs, seed_inputs
from pipeline.process import open_runtime
from pipeline.record import Record
from pipeline.settings import Settings
from sample_scans.synth.batch import SynthOptions, write_batch

ROOT = Path(__file__).resolve().parent.parent
PLICO = str(Path(sys.executable).with_name("plico"))
TYPED = ROOT / "sample_scans" / "typed-300dpi-bitonal"


def test_damaged_inputs_are_read_or_quarantined_and_the_kits_around_them_are_read(tmp_path):
    kit_b = write_batch(SynthOptions(seed=4243, kits=1, dpi=200, filled_by="typed",
                                     mode="bitonal"), tmp_path / "kit").files[0]
    folder = tmp_path / "in"
    folder.mkdir()
    seeds = seed_inputs()
    inputs = [TYPED.with_suffix(".pdf")]
    for name, data in seeds.items():
        (folder / f"good-{name}").write_bytes(data)
    inputs += sorted(folder.glob("good-*"))
    cut = folder / "cut-chain.tif"  # the issue: TypeError from Pillow's n_frames
    cut.write_bytes(TYPED.with_suffix(".tif").read_bytes()[:137_064])
    inputs.append(cut)
    damaged = damaged_inputs(24, seed=20261204, seeds=seeds)
    for d in damaged:
        (folder / d.name).write_bytes(d.data)
        inputs.append(folder / d.name)
    inputs.append(kit_b)

    env = {**os.environ, "PLICO_DATA_DIR": str(tmp_path / "data")}
    res = subprocess.run([PLICO, "process", *map(str, inputs), "--out", str(tmp_path / "out")],
                         capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == errors.ExitCode.PARTIAL, res.stderr[-3000:]
    assert "Traceback" not in res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) == len(inputs)  # one summary line per batch: none was skipped
    assert lines[0].startswith(f"{TYPED.name}: 13 pages, 1 kits")
    assert lines[-1].startswith(f"{kit_b.stem}: 17 pages, 1 kits")

    # both kits read, one record each
    records = [Record.model_validate_json(p.read_text())
               for p in (tmp_path / "out").glob("*.json")]
    assert sorted({p.source for r in records for p in r.kit.pages}) == sorted(
        [TYPED.with_suffix(".pdf").name, kit_b.name])
    assert len(records) == 2

    rt = open_runtime(Settings(data_dir=tmp_path / "data"))
    found = audit(rt)
    assert found.batches == len(inputs)
    assert found.ok, (found.stuck, found.unaccounted[:5], found.silent)
    for name in seeds:  # the undamaged inputs are read (their pages, in no kit, are orphans)
        assert found.by_input[f"good-{name}"] == "read"
    assert found.by_input["cut-chain.tif"] == "quarantined"
    assert set(found.by_input[d.name] for d in damaged) <= {"read", "partly read", "quarantined"}
    assert found.outcomes["quarantined"] >= 5 and found.outcomes["read"] >= 5  # the damage bites
    for code in found.codes:  # a Plico input error, never a library's exception class
        assert issubclass(getattr(errors, code), errors.InputError), code
    assert "quarantined: cut-chain.tif: corrupt TIFF directory chain (TypeError" in res.stderr
