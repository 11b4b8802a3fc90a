"""CellNet: the shipped model, reading rendered hand print, its probabilities, and training."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

from extractors import cellnet
from extractors.cellnet_train import data
from extractors.recognise import DIGITS, TEXT, CellBatchItem
from pipeline.form.model import FieldKind

ROOT = Path(__file__).resolve().parent.parent


def _field(text: str, seed: int, dpi: int, mode: str, source: str = "hand") -> tuple[np.ndarray, ...]:
    """The filled cells of a comb field written with `text` by a bench writer (never trained
    on), scanned and cut by extractors.cell_crops.cell_crop."""
    samples = data.render_field(np.random.default_rng(seed), "bench", source, dpi, mode,
                                text=text)
    assert "".join(s.char for s in samples) == text.replace(" ", "")
    return tuple(s.crop for s in samples)


def test_shipped_model_loads_and_matches_its_metadata():
    model = cellnet.load_model()
    meta = model.meta
    assert meta["classes"] == TEXT
    assert (meta["input"]["height"], meta["input"]["width"]) == (cellnet.INPUT_H, cellnet.INPUT_W)
    assert 0.2 < meta["temperature"] < 5
    assert cellnet.MODEL_PATH.stat().st_size < 2_000_000  # small enough to commit and load fast
    (inp,) = model.session.get_inputs()
    assert inp.shape[1:] == [1, cellnet.INPUT_H, cellnet.INPUT_W]
    assert not isinstance(inp.shape[0], int)  # dynamic batch
    out = model.logits(np.zeros((5, 1, cellnet.INPUT_H, cellnet.INPUT_W), np.float32))
    assert out.shape == (5, len(TEXT))


def test_reads_a_hand_printed_field_of_a_writer_it_never_saw():
    rec = cellnet.CellNetRecogniser()
    name = _field("BIANCHI", 31, 300, "grey")
    date = _field("19041987", 32, 200, "bitonal")
    got = rec.recognise([CellBatchItem("m1.3", FieldKind.TEXT, TEXT, name),
                         CellBatchItem("m1.5", FieldKind.DATE, DIGITS, date)])
    assert "".join(got[0][0]) == "BIANCHI"
    assert "".join(got[1][0]) == "19041987"
    assert all(0.0 < c <= 1.0 for _, confs in got for c in confs)


def test_probabilities_cover_all_classes_and_recognise_keeps_to_the_alphabet():
    rec = cellnet.CellNetRecogniser()
    crops = _field("K0M4", 7, 300, "grey", source="typed")
    items = [CellBatchItem("a", FieldKind.TEXT, TEXT, crops),
             CellBatchItem("b", FieldKind.DIGITS, DIGITS, crops[:2])]
    probs = rec.probabilities(items)
    assert [p.shape for p in probs] == [(4, len(rec.classes)), (2, len(rec.classes))]
    assert all(p.dtype == np.float32 for p in probs)
    for p in probs:
        np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(probs[1], probs[0][:2])
    (chars_a, _), (chars_b, confs_b) = rec.recognise(items)
    assert "".join(chars_a) == "K0M4"
    assert all(c in DIGITS for c in chars_b)
    assert chars_b[1] == "0"
    # renormalised over the digits: at least the share the digit has among all classes
    for i, ch in enumerate(chars_b):
        assert confs_b[i] >= probs[1][i, rec.classes.index(ch)] - 1e-6


def test_training_runs_end_to_end_on_the_tiny_config(tmp_path):
    out = tmp_path / "model"
    subprocess.run([sys.executable, str(ROOT / "tools" / "train_cells.py"), "--tiny", "--threads", "1", "--out",
                    str(out), "--mix", "hand=0.5,mnist=0.5", "--widths", "8,12,12,16", "--hidden", "24",
                    "--mnist-warp", "0.7"], check=True, cwd=ROOT, capture_output=True, timeout=300)
    meta = json.loads((out / "cellnet.json").read_text())
    assert meta["classes"] == TEXT and meta["data"]["train"] == 600
    assert meta["config"]["mix"] == [["hand", 0.5], ["mnist", 0.5]]
    assert (meta["config"]["widths"], meta["config"]["hidden"]) == ([8, 12, 12, 16], 24)
    assert meta["config"]["mnist_warp"] == 0.7
    assert meta["command"].endswith("--mnist-warp 0.7")
    bad = subprocess.run([sys.executable, str(ROOT / "tools" / "train_cells.py"), "--tiny", "--out",
                          str(tmp_path / "bad"), "--mix", "hand=1,ink=2"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "unknown source(s) ['ink']" in bad.stderr
    narrow = subprocess.run([sys.executable, str(ROOT / "tools" / "train_cells.py"), "--tiny", "--out",
                             str(tmp_path / "bad"), "--widths", "8,8,16"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert narrow.returncode == 2 and "want four positive integers" in narrow.stderr
    assert not (tmp_path / "bad").exists()
    session = ort.InferenceSession(str(out / "cellnet.onnx"), providers=["CPUExecutionProvider"])
    x = cellnet.batch(_field("A7", 3, 200, "grey"))
    x = np.concatenate([x, x[:1]])  # three cells
    (logits,) = session.run(None, {session.get_inputs()[0].name: x})
    assert logits.shape == (3, len(TEXT))
    assert np.isfinite(logits).all()


def test_an_ensemble_averages_its_members_calibrated_logits(tmp_path):
    members = []
    for seed in (1, 2):
        out = tmp_path / f"m{seed}"
        subprocess.run([sys.executable, str(ROOT / "tools" / "train_cells.py"), "--tiny", "--threads", "1",
                        "--seed", str(seed), "--out", str(out)], check=True, cwd=ROOT,
                       capture_output=True, timeout=300)
        members.append(out)
    joined = tmp_path / "joined"
    subprocess.run([sys.executable, str(ROOT / "tools" / "ensemble_cells.py"), "--out", str(joined),
                    *map(str, members)], check=True, cwd=ROOT, capture_output=True, timeout=300)
    meta = json.loads((joined / "cellnet.json").read_text())
    metas = [json.loads((m / "cellnet.json").read_text()) for m in members]
    assert [m["config"]["seed"] for m in meta["members"]] == [1, 2]
    assert meta["parameters"] == sum(m["parameters"] for m in metas)
    assert meta["temperature"] > 0 and set(meta["bench_accuracy"]) >= {"hand", "all"}
    x = cellnet.batch(_field("A7", 3, 200, "grey"))

    def logits(folder):
        session = ort.InferenceSession(str(folder / "cellnet.onnx"), providers=["CPUExecutionProvider"])
        return session.run(None, {session.get_inputs()[0].name: x})[0]

    want = np.mean([logits(m) / meta_["temperature"] for m, meta_ in zip(members, metas)], axis=0)
    np.testing.assert_allclose(logits(joined), want, rtol=1e-4, atol=1e-4)
    nested = subprocess.run([sys.executable, str(ROOT / "tools" / "ensemble_cells.py"), "--out",
                             str(tmp_path / "again"), str(joined), str(members[0])], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert nested.returncode == 2 and "itself an ensemble" in nested.stderr


def test_quantizing_keeps_the_float_model_and_its_figures(tmp_path):
    out = tmp_path / "model"
    subprocess.run([sys.executable, str(ROOT / "tools" / "train_cells.py"), "--tiny", "--threads", "1",
                    "--out", str(out)], check=True, cwd=ROOT, capture_output=True, timeout=300)
    before = json.loads((out / "cellnet.json").read_text())
    x = cellnet.batch(_field("A7", 3, 200, "grey"))

    def logits(path):
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(None, {session.get_inputs()[0].name: x})[0]

    float_logits = logits(out / "cellnet.onnx")
    for _ in range(2):  # again: from the float model kept beside it, not the 8-bit one
        subprocess.run([sys.executable, str(ROOT / "tools" / "quantize_cells.py"), "--dir", str(out)],
                       check=True, cwd=ROOT, capture_output=True, timeout=300)
        meta = json.loads((out / "cellnet.json").read_text())
        assert meta["float32"]["bench_accuracy"] == before["bench_accuracy"]
        assert meta["float32"]["temperature"] == before["temperature"]
        assert meta["quantized"]["float_model"] == "cellnet.fp32.onnx" and meta["temperature"] > 0
        np.testing.assert_array_equal(logits(out / "cellnet.fp32.onnx"), float_logits)
        got = logits(out / "cellnet.onnx")
        assert got.shape == float_logits.shape and np.isfinite(got).all()
        assert (out / "cellnet.onnx").stat().st_size < (out / "cellnet.fp32.onnx").stat().st_size
