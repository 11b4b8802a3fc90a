"""What `plico process` says about bad inputs: each file named once, one line for a scan
whose pages all belong to no kit (not one per page), a pipe or a dangling link called what
it is, and the inputs that were never stored visible in `plico status`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pikepdf

from pipeline.errors import ExitCode

PLICO = str(Path(sys.executable).with_name("plico"))


def test_bad_inputs_are_reported_once_each_and_shown_by_status(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    blank = folder / "blank.pdf"
    doc = pikepdf.new()
    for _ in range(200):  # small pages: the point is the count of lines, not the pixels
        doc.add_blank_page(page_size=(72, 72))
    doc.save(blank)
    os.mkfifo(folder / "pipe.pdf")
    (folder / "dangling.pdf").symlink_to(tmp_path / "gone.pdf")
    (folder / "empty.pdf").write_bytes(b"")
    inputs = [blank, folder / "pipe.pdf", folder / "dangling.pdf", folder / "empty.pdf",
              tmp_path / "missing.pdf"]
    env = {**os.environ, "PLICO_DATA_DIR": str(tmp_path / "data")}
    for name in ("PLICO_DATABASE_URL", "PLICO_STORAGE_URL", "PLICO_BROKER_URL"):
        env.pop(name, None)
    res = subprocess.run([PLICO, "process", *map(str, inputs), "--out", str(tmp_path / "out")],
                         capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == ExitCode.PARTIAL, res.stderr[-2000:]
    assert res.stdout.splitlines() == [
        line for line in res.stdout.splitlines() if line.split(":")[0] in
        ("blank", "pipe.pdf", "dangling.pdf", "empty", "missing.pdf")]
    assert res.stdout.startswith("blank: 200 pages, 0 kits, 0 anomalies, 1 quarantined")
    assert "pipe.pdf: 0 pages, 0 kits, 0 anomalies, 0 quarantined, 1 not stored" in res.stdout
    said = [line for line in res.stderr.splitlines() if line and not line.startswith("20")]
    assert said == [
        "quarantined: blank.pdf pages 1-200: 200 blank pages belong to no kit (they come "
        "before any label page or Modulo 1) (OrphanPageError)",
        "not stored: pipe.pdf: not a regular file (a pipe, socket or device), not read "
        "(UnsupportedInputError)",
        "not stored: dangling.pdf: a link to a file that does not exist (InputNotFoundError)",
        "quarantined: empty.pdf: the file is empty (0 bytes) (UnsupportedInputError)",
        "not stored: missing.pdf: no such input file (InputNotFoundError)",
    ]
    assert len(res.stderr.splitlines()) < 20  # the log: a line per input, not per page

    status = subprocess.run([PLICO, "status"], capture_output=True, text=True, env=env,
                            timeout=120)
    assert status.returncode == 0, status.stderr
    for line in said[1:]:
        if line.startswith("not stored: "):
            assert line.removeprefix("not stored: ") in status.stdout
    assert "empty.pdf (all pages) UnsupportedInputError: the file is empty (0 bytes)" \
        in status.stdout
    assert "blank.pdf (pages 1-200) OrphanPageError: 200 blank pages" in status.stdout
    assert " running " not in status.stdout.split("jobs")[0]  # every batch finished
