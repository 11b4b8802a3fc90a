"""`plico bench scale`: the same batch with 1 and with 2 worker processes on a real broker.

Worker processes are started (and their models loaded) before the clock starts; the clock
runs from enqueueing the batch to the batch being done in the index. `WorkerProcs` is also
what the workers' tests use to start, kill and stop real worker processes.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pipeline.settings import Settings


class WorkerProcs:
    """`python -m pipeline.workers` processes with the given environment, logging to files."""

    def __init__(self, env: dict[str, str], log_dir: Path, threads: int = 1) -> None:
        self.env = {**env, "PLICO_LOG_LEVEL": "INFO"}
        self.log_dir = log_dir
        self.threads = threads
        self.procs: list[subprocess.Popen] = []
        log_dir.mkdir(parents=True, exist_ok=True)

    def log(self, i: int) -> Path:
        return self.log_dir / f"worker-{i}.log"

    def start(self, n: int = 1, timeout: float = 120.0) -> list[int]:
        """Start `n` more workers and wait until each is consuming; their indices."""
        new = []
        for _ in range(n):
            i = len(self.procs)
            with self.log(i).open("ab") as out:
                self.procs.append(subprocess.Popen(
                    [sys.executable, "-m", "pipeline.workers", "--threads", str(self.threads)],
                    env=self.env, stdout=out, stderr=subprocess.STDOUT))
            new.append(i)
        deadline = time.monotonic() + timeout
        for i in new:
            while " up: " not in self.log(i).read_text(errors="replace"):
                if self.procs[i].poll() is not None:
                    raise RuntimeError(f"worker {i} exited with {self.procs[i].returncode}: "
                                       f"{self.log(i).read_text(errors='replace')[-2000:]}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"worker {i} not up in {timeout:.0f} s")
                time.sleep(0.1)
        return new

    def start_cli(self, n: int, timeout: float = 120.0) -> None:
        """`plico worker --processes n`: one supervisor and its n worker processes."""
        i = len(self.procs)
        with self.log(i).open("ab") as out:
            self.procs.append(subprocess.Popen(
                [str(Path(sys.executable).with_name("plico")), "worker", "--processes", str(n),
                 "--threads", str(self.threads)], env=self.env, stdout=out,
                stderr=subprocess.STDOUT))
        deadline = time.monotonic() + timeout
        while self.log(i).read_text(errors="replace").count(" up: ") < n:
            if self.procs[i].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"plico worker not up: "
                                   f"{self.log(i).read_text(errors='replace')[-2000:]}")
            time.sleep(0.1)

    def cpu_seconds(self) -> list[float]:
        """CPU time (user + system, with waited-for children such as tesseract) of each
        running worker so far, from /proc (Linux)."""
        tick = os.sysconf("SC_CLK_TCK")
        out = []
        for p in self.procs:
            stat = Path(f"/proc/{p.pid}/stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            out.append(sum(int(v) for v in fields[11:15]) / tick)
        return out

    def schedstats(self) -> list[dict[str, tuple[int, int]]]:
        """Per worker, per thread: (ns run, ns ready but waiting for a core), Linux schedstat."""
        out = []
        for p in self.procs:
            threads = {}
            for task in Path(f"/proc/{p.pid}/task").iterdir():
                run, wait = (int(v) for v in (task / "schedstat").read_text().split()[:2])
                threads[task.name] = (run, wait)
            out.append(threads)
        return out

    def kill(self, i: int) -> None:
        """SIGKILL: no goodbye to the broker, messages in hand stay unacknowledged."""
        self.procs[i].send_signal(signal.SIGKILL)
        self.procs[i].wait()

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def logs(self) -> str:
        return "\n".join(self.log(i).read_text(errors="replace") for i in range(len(self.procs)))


def _busiest_wait(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> float:
    """Seconds the thread that ran most (the one reading pages) waited for a core."""
    deltas = [(run - before.get(tid, (0, 0))[0], wait - before.get(tid, (0, 0))[1])
              for tid, (run, wait) in after.items()]
    return max(deltas)[1] / 1e9


def wait_batch(rt, batch_id: str, timeout: float, poll_s: float = 0.2) -> str:
    """Wait for a batch to be done (or failed); its final status."""
    from storage import db

    deadline = time.monotonic() + timeout
    while True:
        try:
            with rt.session() as s:
                state = s.get(db.Batch, batch_id).status
        except Exception as exc:
            from pipeline.faults import is_transient

            if not is_transient(exc):
                raise
            state = "unknown"
        if state in ("done", "failed"):
            return state
        if time.monotonic() > deadline:
            raise TimeoutError(f"batch {batch_id} still {state} after {timeout:.0f} s")
        time.sleep(poll_s)


def run_scale_bench(*, seed: int, kits: int, dpi: int, counts: list[int], broker: str,
                    echo: Callable[[str], None], repeat: int = 1) -> dict[int, float]:
    """pages/s per worker count, the best of `repeat` rounds (the counts alternate within a
    round, so a burst of other load on a shared machine hurts one round, not one count)."""
    from pipeline.intake import submit_batch
    from pipeline.runtime import open_runtime
    from pipeline.workers import enqueue_batch, purge_queues, setup
    from sample_scans.synth.batch import SynthOptions, write_batch

    rates: dict[int, float] = {}
    busy: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="plico-scale-") as tmp:
        root = Path(tmp)
        result = write_batch(SynthOptions(seed=seed, kits=kits, dpi=dpi, filled_by="typed",
                                          mode="grey", name="scale"), root / "batch")
        echo(f"batch: seed {seed}, {kits} kits, {result.pages} pages, {dpi} dpi, typed, grey; "
             f"broker {broker.split('@')[-1]}")
        for rnd, n in ((r, n) for r in range(repeat) for n in counts):
            queue = f"plico_scale_{secrets.token_hex(4)}"
            settings = Settings(data_dir=root / f"data-{n}-{rnd}", broker_url=broker,
                                queue_name=queue, worker_poll_ms=100)
            env = {**os.environ, "PLICO_DATA_DIR": str(settings.data_dir),
                   "PLICO_BROKER_URL": broker, "PLICO_QUEUE_NAME": queue,
                   "PLICO_WORKER_POLL_MS": "100"}
            rt = open_runtime(settings)  # migrated before the workers start
            procs = WorkerProcs(env, root / f"logs-{n}-{rnd}")
            try:
                procs.start(n)
                idle = procs.cpu_seconds()  # start-up and model loading are not counted
                sched = procs.schedstats()
                setup(settings)
                submitted = submit_batch(rt, result.files[0])
                started = time.perf_counter()
                enqueue_batch(rt, submitted.batch_id)
                state = wait_batch(rt, submitted.batch_id, timeout=3600)
                seconds = time.perf_counter() - started
                cpu = [after - before for after, before in zip(procs.cpu_seconds(), idle)]
                waits = [_busiest_wait(before, after)
                         for before, after in zip(sched, procs.schedstats())]
            finally:
                procs.stop()
                purge_queues(settings)
            from storage import db

            with rt.session() as s:
                batch = s.get(db.Batch, submitted.batch_id)
                pages, nkits = batch.pages, batch.kits
            rate = pages / seconds
            if rate > rates.get(n, 0.0):
                rates[n], busy[n] = rate, max(cpu)
            echo(f"{n} worker process{'es' if n > 1 else ''}: {pages} pages, {nkits} kits in "
                 f"{seconds:.1f} s: {rate:.2f} pages/s (batch {state}); worker CPU "
                 + " + ".join(f"{c:.1f}" for c in cpu) + f" s = {1000 * sum(cpu) / pages:.0f} "
                 "ms/page; its busiest thread waited for a core " + " + ".join(
                     f"{w:.1f}" for w in waits) + " s")
    if len(busy) >= 2:
        base = counts[0]
        for n in counts[1:]:
            echo(f"CPU-time bound, {n} vs {base} workers: {busy[base] / busy[n]:.2f}x (the "
                 "busiest worker's CPU time against one worker's: the ratio on free cores, "
                 "idle waits not counted)")
    return rates
