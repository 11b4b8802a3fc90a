"""A small real index for the operations tests (schema, export, doctor, metrics): the smallest
committed sample scan (typed-300dpi-bitonal.pdf, 13 pages, 1 kit) read by `plico process`
into a temporary data folder, once per test module that asks for it."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SMALLEST_SCAN = ROOT / "sample_scans" / "typed-300dpi-bitonal.pdf"


def plico_env(data: Path, **extra: str) -> dict[str, str]:
    """The environment of a `plico` subprocess on the embedded default under `data`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLICO_")}
    env.update(PLICO_DATA_DIR=str(data), **extra)
    return env


def plico(data: Path, *args: str, **extra: str) -> subprocess.CompletedProcess:
    """Run `plico ARGS` in a subprocess on the index under `data`."""
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=ROOT,
                          env=plico_env(data, **extra), capture_output=True, text=True,
                          timeout=600)


@dataclass
class SampleIndex:
    data: Path  # PLICO_DATA_DIR: objects/, plico.db
    out: Path  # the records plico process wrote


@pytest.fixture(scope="module")
def sample_index(tmp_path_factory) -> SampleIndex:
    root = tmp_path_factory.mktemp("sample-index")
    done = plico(root / "data", "process", str(SMALLEST_SCAN), "--out", str(root / "out"))
    assert done.returncode == 0, done.stderr
    return SampleIndex(root / "data", root / "out")
