"""Kill soak: `plico process` killed with SIGKILL at random moments, then resumed (issue 15).

Each round has a fresh data folder (PLICO_DATA_DIR) and a private TMPDIR, both under the work
folder. `plico process` is started on the inputs and killed at a moment drawn (seeded) between
0.2 s and the time of one unkilled run, measured first; then `plico process` runs again on the
same inputs (the resume). The index is then read (read-only SQLite): every batch done, or
failed (quarantined) with a reason; every envelope one kit, and each kit its current record;
the private TMPDIR empty (no copy outside the data folder).

`plico bench kills --count 20 --seed 1` runs it; tests/test_killsoak.py runs one round.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer

ROOT = Path(__file__).resolve().parent.parent
PLICO = str(Path(sys.executable).with_name("plico"))
DEFAULT_INPUTS = (ROOT / "sample_scans" / "typed-300dpi-bitonal.pdf",)


@dataclass
class Round:
    number: int
    kill_at: float  # seconds after the start; the run may have ended before
    killed: bool
    resume_rc: int
    resumed: bool = False  # the second run said it resumed a batch the killed one left
    batches: int = 0
    done: int = 0
    quarantined: int = 0  # failed with a reason
    stuck: list[str] = field(default_factory=list)  # batch id: status
    duplicates: int = 0  # envelopes with more than one kit
    no_record: int = 0  # kits without a current record
    kits: int = 0
    left_outside: list[str] = field(default_factory=list)  # files in the private TMPDIR

    @property
    def ok(self) -> bool:
        return (self.resume_rc == 0 and not self.stuck and not self.duplicates
                and not self.no_record and not self.left_outside)

    def line(self) -> str:
        what = f"killed at {self.kill_at:.2f} s" if self.killed else \
            f"ended before {self.kill_at:.2f} s"
        return (f"round {self.number}: {what}; resume rc {self.resume_rc}"
                f"{' (a batch resumed)' if self.resumed else ''}; batches "
                f"{self.batches} (done {self.done}, quarantined {self.quarantined}, stuck "
                f"{len(self.stuck)}); kits {self.kits}, duplicates {self.duplicates}, without "
                f"record {self.no_record}; files outside the data dir {len(self.left_outside)}"
                + ("" if self.ok else "  <-- NOT CLEAN"))


@dataclass
class Soak:
    baseline_s: float
    rounds: list[Round]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rounds)

    def summary(self) -> str:
        rs = self.rounds
        batches = sum(r.batches for r in rs)
        return (f"rounds {len(rs)} (killed {sum(r.killed for r in rs)}, a batch resumed "
                f"{sum(r.resumed for r in rs)}); batches {batches}: "
                f"done {sum(r.done for r in rs)}, quarantined with a reason "
                f"{sum(r.quarantined for r in rs)}, stuck {sum(len(r.stuck) for r in rs)}; "
                f"duplicates {sum(r.duplicates for r in rs)}; kits without record "
                f"{sum(r.no_record for r in rs)}; resumes failed "
                f"{sum(r.resume_rc != 0 for r in rs)}; files left outside the data dir "
                f"{sum(len(r.left_outside) for r in rs)}")


def _env(data: Path, tmp: Path) -> dict[str, str]:
    env = {**os.environ, "PLICO_DATA_DIR": str(data), "TMPDIR": str(tmp)}
    for name in ("PLICO_DATABASE_URL", "PLICO_STORAGE_URL", "PLICO_BROKER_URL"):
        env.pop(name, None)
    return env


def _run(inputs: list[Path], out: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([PLICO, "process", *map(str, inputs), "--out", str(out)], env=env,
                          capture_output=True, text=True, timeout=900, check=False)


def _audit(rnd: Round, db_file: Path, tmp: Path) -> None:
    with sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, timeout=30) as conn:
        for bid, status, error in conn.execute("SELECT id, status, error FROM batches"):
            rnd.batches += 1
            reasons = conn.execute("SELECT count(*) FROM quarantine WHERE batch_id = ? AND "
                                   "reason != ''", (bid,)).fetchone()[0]
            if status == "done":
                rnd.done += 1
            elif status == "failed" and (error or reasons):
                rnd.quarantined += 1
            else:
                rnd.stuck.append(f"{bid}: {status}")
        rnd.kits = conn.execute("SELECT count(*) FROM kits").fetchone()[0]
        rnd.duplicates = conn.execute(
            "SELECT count(*) FROM (SELECT envelope FROM kits WHERE envelope IS NOT NULL "
            "GROUP BY envelope HAVING count(*) > 1)").fetchone()[0]
        rnd.no_record = conn.execute(
            "SELECT count(*) FROM kits WHERE current_version_id IS NULL OR current_version_id "
            "NOT IN (SELECT id FROM record_versions)").fetchone()[0]
    rnd.left_outside = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*"))


def run_kills(count: int, seed: int, workdir: Path, inputs: list[Path] | None = None,
              echo: Callable[[str], None] = print, baseline_s: float | None = None) -> Soak:
    inputs = [Path(p).resolve() for p in (inputs or DEFAULT_INPUTS)]
    workdir.mkdir(parents=True, exist_ok=True)
    if baseline_s is None:  # one unkilled run: the typical run time
        data, tmp = workdir / "baseline" / "data", workdir / "baseline" / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        res = _run(inputs, workdir / "baseline" / "out", _env(data, tmp))
        baseline_s = time.monotonic() - started
        if res.returncode != 0:
            raise RuntimeError(f"the unkilled run failed: {res.stderr[-2000:]}")
        echo(f"unkilled run: {baseline_s:.1f} s; {res.stdout.strip()}")
    rng = random.Random(seed)
    rounds: list[Round] = []
    n = 0
    # a run that ends before its moment is no kill: drawn again, until COUNT kills
    while sum(r.killed for r in rounds) < count and n < 3 * count:
        n += 1
        base = workdir / f"round-{n:03d}"
        data, tmp, out = base / "data", base / "tmp", base / "out"
        tmp.mkdir(parents=True, exist_ok=True)
        env = _env(data, tmp)
        kill_at = rng.uniform(0.2, max(0.2, baseline_s))
        proc = subprocess.Popen([PLICO, "process", *map(str, inputs), "--out", str(out)],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            proc.wait(timeout=kill_at)
            killed = False
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            killed = True
        res = _run(inputs, out, env)
        rnd = Round(n, kill_at, killed, res.returncode, "resumed" in res.stdout)
        db_file = data / "plico.db"
        if db_file.exists():
            _audit(rnd, db_file, tmp)
        else:
            rnd.stuck.append("no index after the resume")
        rounds.append(rnd)
        echo(rnd.line())
        if res.returncode != 0:
            echo(f"  resume stderr: {res.stderr.strip()[-500:]}")
    return Soak(baseline_s, rounds)


def bench_kills(
    count: Annotated[int, typer.Option("--count", min=1, help="Killed runs.")] = 20,
    seed: Annotated[int, typer.Option("--seed")] = 1,
    inputs: Annotated[list[Path] | None, typer.Option(
        "--input", help="Inputs of each run (default: sample_scans/typed-300dpi-bitonal.pdf)"
    )] = None,
    workdir: Annotated[Path | None, typer.Option("--workdir", help="Keep the data folders "
                                                 "here (default: a temp folder, removed "
                                                 "after).")] = None,
) -> None:
    """`plico process` killed with SIGKILL at COUNT seeded random moments, each time resumed
    by a second `plico process`; counts batches done, quarantined and stuck, duplicate kits,
    kits without a record and files left outside the data folder. Exit 1 when not clean."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="plico-kills-") as tmp:
        soak = run_kills(count, seed, workdir or Path(tmp), inputs, echo=typer.echo)
    typer.echo(soak.summary())
    if not soak.ok:
        raise typer.Exit(1)


def register(bench_app: typer.Typer) -> None:
    bench_app.command("kills")(bench_kills)
