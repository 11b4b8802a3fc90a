"""No copy of an applicant's document outside the data folder, even after a kill -9.

`plico process` reads each raw input in memory (it used to copy it to `$TMPDIR/plico-raw-*`
for the time of its preparation), and sends the temporary files of the libraries it calls
(pytesseract, with PLICO_TESSERACT_ENGINE=cli, writes every image it reads to one) to `<data_dir>/tmp/<host>-<pid>/`; the next
start of a `plico` command removes the folders of dead processes and old partial objects."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLICO = str(Path(sys.executable).with_name("plico"))


def test_a_killed_run_leaves_no_copy_of_its_input_outside_the_data_folder(tmp_path):
    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    data = tmp_path / "data"
    env = {**os.environ, "PLICO_DATA_DIR": str(data), "TMPDIR": str(system_tmp)}
    for name in ("PLICO_DATABASE_URL", "PLICO_STORAGE_URL", "PLICO_BROKER_URL"):
        env.pop(name, None)
    proc = subprocess.Popen(
        [PLICO, "process", str(ROOT / "sample_scans" / "hand-300dpi-grey.pdf"), "--out",
         str(tmp_path / "out")], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pages = data / "objects" / "pages"
    deadline = time.monotonic() + 120
    try:
        # kill it in the middle of preparing the pages: the first upright page is stored
        while not (pages.is_dir() and any(pages.rglob("*.png"))):
            assert proc.poll() is None, "the run ended before it was killed"
            assert time.monotonic() < deadline, "no page prepared in 120 s"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert sorted(p.name for p in system_tmp.rglob("*")) == []

    own = data / "tmp" / f"{socket.gethostname()}-{proc.pid}"
    assert own.is_dir() and (own.stat().st_mode & 0o777) == 0o700
    # the data folder plico created, and everything in it, its owner's only
    modes = {p.relative_to(tmp_path).as_posix(): p.stat().st_mode & 0o777
             for p in [data, *data.rglob("*")] if p.is_dir()}
    assert modes and set(modes.values()) == {0o700}, modes
    (own / "tess_leftover.png").write_bytes(b"what pytesseract had not removed yet")
    # a half-written object of the local store: removed when old, left alone while recent
    old = data / "objects" / ".staging" / ".incoming-old"
    old.write_bytes(b"partial")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    recent = data / "objects" / ".staging" / ".incoming-recent"
    recent.write_bytes(b"a put in progress")
    res = subprocess.run([PLICO, "status"], env=env, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    assert not own.exists() and not old.exists() and recent.exists()
    assert sorted(p.name for p in system_tmp.rglob("*")) == []
