"""Time `pipeline.process.process_batch` on one batch file in a fresh process, the way the
speed figures compare this code with a commit whose CLI lacks `plico bench speed
--filled-by` (docs/benchmarks.md, `plico bench speed`):

    plico synth --seed 2001 --kits 2 --dpi 200 --filled-by hand --mode bitonal --out DIR
    git archive COMMIT | tar -x -C OLD
    OMP_THREAD_LIMIT=1 PYTHONPATH=OLD .venv/bin/python tools/time_batch.py DIR/synth-2001.pdf
    OMP_THREAD_LIMIT=1 .venv/bin/python tools/time_batch.py DIR/synth-2001.pdf

(PYTHONPATH=OLD makes `pipeline` and `extractors` the old commit's; without it they are this
checkout's.)

Prints pages per second from the process's start (imports and models paid) and inside
`process_batch` alone; OpenCV on one thread, the recogniser `auto`, a temporary data folder.
"""

import sys
import tempfile
import time
from pathlib import Path

STARTED = time.perf_counter()

import cv2  # noqa: E402

from pipeline.process import process_batch  # noqa: E402
from pipeline.runtime import build_recogniser  # noqa: E402
from pipeline.settings import Settings  # noqa: E402


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory(prefix="plico-time-") as tmp:
        settings = Settings(data_dir=Path(tmp) / "data")
        recogniser = build_recogniser("auto")
        t = time.perf_counter()
        _, records = process_batch(Path(argv[0]), Path(tmp) / "out", settings, recogniser)
        run = time.perf_counter() - t
    pages = sum(len(r.kit.pages) for r in records)
    total = time.perf_counter() - STARTED
    print(f"{pages} pages: {pages / total:.2f} pages/s from process start, "
          f"{pages / run:.2f} in process_batch")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
