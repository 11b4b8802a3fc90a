"""`plico bench kills` in one round: `plico process` killed with SIGKILL at a seeded moment,
resumed by a second run; the index and the private TMPDIR are clean (pipeline/killsoak.py)."""

from __future__ import annotations

from pipeline.killsoak import run_kills


def test_one_killed_and_resumed_round_is_clean(tmp_path):
    # the kill is drawn within the first 5 s (no unkilled run measured first, to stay short)
    soak = run_kills(1, seed=1, workdir=tmp_path, echo=lambda line: None, baseline_s=5.0)
    (rnd,) = soak.rounds
    assert soak.ok, rnd.line()
    assert rnd.batches == rnd.done == 1 and rnd.kits == 1
    assert "stuck 0; duplicates 0; kits without record 0" in soak.summary()
    assert soak.summary().endswith("files left outside the data dir 0")
