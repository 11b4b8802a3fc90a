"""The records `plico process` writes for two committed sample scans, against the records
committed in tests/data/golden/: a change of behaviour shows here as a failing test and, once
meant, as a diff of the golden records in the same commit.

    PLICO_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_golden_records.py   # rewrite them

Compared without what differs from run to run: the batch id (in crop paths and keys) and the
per-step timings.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "data" / "golden"
SCANS = ("typed-300dpi-bitonal.pdf", "hand-300dpi-grey.pdf")
_BATCH_ID = re.compile(r"\d{8}-\d{6}-[0-9a-f]{6}")


def _normal(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items() if k != "timings"}
    if isinstance(value, list):
        return [_normal(v) for v in value]
    if isinstance(value, str):
        return _BATCH_ID.sub("BATCH", value)
    return value


def _read(folder: Path) -> dict[str, Any]:
    return {p.name: _normal(json.loads(p.read_text(encoding="utf-8")))
            for p in sorted(folder.glob("*.json"))}


def test_sample_scans_give_the_committed_records(tmp_path):
    env = {**os.environ, "PLICO_DATA_DIR": str(tmp_path / "data")}
    plico = str(Path(sys.executable).with_name("plico"))
    done = subprocess.run([plico, "process", *(str(ROOT / "sample_scans" / s) for s in SCANS),
                           "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    got = _read(tmp_path / "out")
    assert len(got) == 2
    if os.environ.get("PLICO_UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(parents=True, exist_ok=True)
        for old in GOLDEN.glob("*.json"):
            old.unlink()
        for name, record in got.items():
            (GOLDEN / name).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n",
                                       encoding="utf-8")
    want = _read(GOLDEN)
    assert sorted(got) == sorted(want)
    for name in want:
        changed = sorted(k for k in set(got[name]["fields"]) | set(want[name]["fields"])
                         if got[name]["fields"].get(k) != want[name]["fields"].get(k))
        assert not changed, f"{name}: fields changed: {changed}"
        assert got[name] == want[name], name
