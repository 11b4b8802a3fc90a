"""Join trained CellNets into one ONNX model that averages them.

Each member is a folder written by `train.py` (cellnet.onnx/.json). The joined graph feeds the
one input to every member, divides each member's logits by its own temperature and averages
them (the mean of calibrated log-probabilities, up to a constant per cell); a temperature for
the average is then fitted, as the trainer fits a member's, on the NIST "cal" writers' cells
of the validation split, never trained on. The runtime (`extractors.cellnet`) sees one model,
so nothing else changes; the metadata keeps every member's configuration and figures.

    .venv/bin/python tools/ensemble_cells.py --out extractors/models MEMBER_DIR MEMBER_DIR...
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from extractors import cellnet
from extractors.cellnet_train import data
from extractors.cellnet_train.train import (Config, accuracy_by_source, build_set,
                                            fit_temperature, save_meta)

_KEEP = ("classes", "input", "parameters", "config", "data")


def join(members: list[Path], metas: list[dict[str, Any]]) -> Any:
    """The ONNX model whose output is the mean over `members` of logits / temperature
    (`metas`: each member's cellnet.json)."""
    import onnx
    from onnx import compose, helper

    if len({m["classes"] for m in metas}) != 1 or len({json.dumps(m["input"]) for m in metas}) != 1:
        raise ValueError("members differ in classes or input")
    nodes, inits, outs = [], [], []
    first = None
    for k, (member, meta) in enumerate(zip(members, metas)):
        model = onnx.load(str(member / "cellnet.onnx"))
        first = first or model
        model = compose.add_prefix(model, f"m{k}_", rename_inputs=False)
        graph = model.graph
        nodes.extend(graph.node)
        inits.extend(graph.initializer)
        scale = f"m{k}_inverse_temperature"
        inits.append(helper.make_tensor(scale, onnx.TensorProto.FLOAT, [],
                                        [1.0 / float(meta.get("temperature", 1.0))]))
        nodes.append(helper.make_node("Mul", [graph.output[0].name, scale], [f"m{k}_scaled"]))
        outs.append(f"m{k}_scaled")
    inits.append(helper.make_tensor("members", onnx.TensorProto.FLOAT, [], [float(len(members))]))
    nodes.append(helper.make_node("Sum", outs, ["logit_sum"]))
    nodes.append(helper.make_node("Div", ["logit_sum", "members"], ["logits"]))
    graph = helper.make_graph(nodes, "cellnet_ensemble", list(first.graph.input),
                              list(first.graph.output), inits)
    joined = helper.make_model(graph, opset_imports=list(first.opset_import))
    joined.ir_version = first.ir_version
    onnx.checker.check_model(joined)
    return joined


def build(members: list[Path], metas: list[dict[str, Any]], out: Path, command: str,
          log=print) -> dict[str, Any]:
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "cellnet.onnx.tmp"
    import onnx

    onnx.save(join(members, metas), str(tmp))
    model = cellnet.load_model.__wrapped__(tmp, members[0] / "cellnet.json")
    cfg = Config(**{k: tuple(v) if isinstance(v, list) else v
                    for k, v in metas[0]["config"].items()})
    cfg = replace(cfg, mix=tuple((k, float(w)) for k, w in cfg.mix))
    xv, yv, sv = build_set(cfg, "val", cfg.n_val, augment=False)
    xb, yb, sb = build_set(cfg, "bench", cfg.n_bench, augment=False)
    lv, lb = model.logits(xv), model.logits(xb)
    cal = sv == data.SOURCES.index("nist")
    temperature = fit_temperature(lv[cal], yv[cal])
    bench = accuracy_by_source(lb, yb, sb)
    meta = {k: metas[0][k] for k in _KEEP}
    meta.update({
        "output": "logits (the members' mean of logits / member temperature); "
                  "softmax(logits / temperature)",
        "temperature": temperature,
        "temperature_fitted_on": "nist cal writers",
        "parameters": sum(m["parameters"] for m in metas),
        "val_accuracy": accuracy_by_source(lv, yv, sv),
        "bench_accuracy": bench,
        "bench_note": metas[0]["bench_note"],
        "members": [{k: m[k] for k in ("temperature", "parameters", "config", "val_accuracy",
                                       "bench_accuracy", "train_seconds", "command", "torch")}
                    for m in metas],
        "train_seconds": sum(m["train_seconds"] for m in metas),
        "command": command,
    })
    tmp.replace(out / "cellnet.onnx")
    save_meta(out, meta, log, f"temperature {temperature}; {len(members)} members; "
              f"{time.perf_counter() - started:.0f} s")
    return meta


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="folder for cellnet.onnx/.json")
    ap.add_argument("members", type=Path, nargs="+",
                    help="folders with a member's cellnet.onnx/.json (train_cells.py --out)")
    args = ap.parse_args(argv)
    for m in args.members:
        if not (m / "cellnet.onnx").is_file() or not (m / "cellnet.json").is_file():
            ap.error(f"{m}: no cellnet.onnx/.json")
    metas = [json.loads((m / "cellnet.json").read_text(encoding="utf-8")) for m in args.members]
    if any("members" in meta for meta in metas):
        ap.error("a member is itself an ensemble; give the members it was joined from")
    command = "python tools/ensemble_cells.py " + " ".join(sys.argv[1:] if argv is None else argv)
    build(args.members, metas, args.out, command)
    return 0
