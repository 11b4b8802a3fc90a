"""Train CellNet from a seed and export it to ONNX (the runtime, extractors.cellnet, needs no torch).

    python tools/train_cells.py --out extractors/models            # the shipped model
    python tools/train_cells.py --tiny --out /tmp/cellnet           # end to end in seconds

Steps: render the training, validation and bench cells (`data.samples`: train writers and
fonts, validation writers and MNIST rows, bench writers and fonts), train the CNN on the
training cells (AdamW, one-cycle learning rate, label smoothing), fit the softmax
temperature on the validation cells (least negative log-likelihood; only the NIST "cal" writers'
real handwriting when validation has them), measure the held-out
bench cells, export ONNX (legacy exporter, dynamic batch) and write the metadata beside it.
Seeded: the same seed and config give the same data and, on one machine and thread count,
the same weights (torch CPU kernels are deterministic for these layers).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

# what the parent process set, before extractors.tesseract sets its own (torch loads
# OpenMP with the environment it finds at import)
_OMP_LIMIT = os.environ.get("OMP_THREAD_LIMIT", "")

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from extractors import cellnet
from extractors.cellnet_train import data
from extractors.recognise import TEXT

CLASSES = TEXT


@dataclass(frozen=True)
class Config:
    seed: int = 4242
    n_train: int = 150_000
    n_val: int = 8_000
    n_bench: int = 8_000
    epochs: int = 6
    batch: int = 256
    lr: float = 4e-3
    weight_decay: float = 5e-4
    label_smoothing: float = 0.05
    widths: tuple[int, ...] = (32, 64, 96, 128)
    hidden: int = 128
    threads: int = 1
    #: source weights of the rendered cells (data.samples)
    mix: tuple[tuple[str, float], ...] = (("hand", 0.3), ("mnist", 0.25), ("nist", 0.3),
                                          ("typed", 0.15))
    #: share of each batch that gets a fresh random warp (`warp`)
    warp_share: float = 0.7
    #: strength of the per-digit distortion of training MNIST digits (data.samples)
    mnist_warp: float = 0.8


TINY = Config(n_train=600, n_val=200, n_bench=200, epochs=1, widths=(8, 8, 16, 16), hidden=16,
              batch=128)


class CellNet(nn.Module):
    """conv 3x3 + BN + ReLU blocks with 2x2 max-pooling between, then two dense layers on the
    flattened 4x3 map (flattened, not pooled: where the ink sits in the cell matters)."""

    def __init__(self, widths: tuple[int, ...], hidden: int, n_classes: int) -> None:
        super().__init__()
        c1, c2, c3, c4 = widths

        def block(a: int, b: int) -> list[nn.Module]:
            return [nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU()]

        self.features = nn.Sequential(
            *block(1, c1), nn.MaxPool2d(2),  # 16 x 12
            *block(c1, c2), *block(c2, c3), nn.MaxPool2d(2),  # 8 x 6
            *block(c3, c4), nn.MaxPool2d(2),  # 4 x 3
        )
        flat = c4 * (cellnet.INPUT_H // 8) * (cellnet.INPUT_W // 8)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(flat, hidden),
                                  nn.ReLU(), nn.Linear(hidden, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def build_set(cfg: Config, split: str, n: int, augment: bool) -> tuple[np.ndarray, np.ndarray,
                                                                        np.ndarray]:
    """(inputs N x 1 x H x W float32, labels N, sources N) of `split`."""
    index = {c: i for i, c in enumerate(CLASSES)}
    crops, labels, sources = [], [], []
    for s in data.samples(cfg.seed, split, n, augment=augment, mix=dict(cfg.mix),
                          mnist_warp=cfg.mnist_warp if augment else 0.0):
        crops.append(s.crop)
        labels.append(index[s.char])
        sources.append(data.SOURCES.index(s.source))
    return cellnet.batch(crops), np.array(labels, np.int64), np.array(sources, np.int64)


def warp(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Each cell warped anew: rotation (sd 4 degrees), shear, scale (sd 5%), a sub-pixel
    shift and a smooth elastic displacement (a 4 x 3 random field, about half a pixel).
    Kept small: where the ink sits in the cell tells a hyphen from an underscore."""
    n, _, h, w = x.shape

    def r(sd: float) -> torch.Tensor:
        return torch.randn(n, generator=gen) * sd

    ang, shear, scale = r(0.07), r(0.08), 1.0 + r(0.05)
    cos, sin = torch.cos(ang), torch.sin(ang)
    # the map in pixel units, then in affine_grid's units (x: w/2 pixels, y: h/2 pixels)
    a = torch.stack([torch.stack([cos, -sin + shear], 1), torch.stack([sin, cos], 1)], 1)
    a = a / scale[:, None, None]
    s = torch.tensor([w / 2, h / 2])
    a = a * s[None, None, :] / s[None, :, None]
    t = torch.stack([r(0.6) / (w / 2), r(0.6) / (h / 2)], 1)
    grid = F.affine_grid(torch.cat([a, t[:, :, None]], 2), list(x.shape), align_corners=False)
    field = F.interpolate(torch.randn(n, 2, 4, 3, generator=gen) * 0.5, size=(h, w),
                          mode="bicubic", align_corners=False)
    field = field / s[None, :, None, None]
    grid = grid + field.permute(0, 2, 3, 1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _logits(model: nn.Module, x: np.ndarray, batch: int = 1024) -> np.ndarray:
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out.append(model(torch.from_numpy(x[i : i + batch])).numpy())
    return np.concatenate(out) if out else np.zeros((0, len(CLASSES)), np.float32)


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature whose softmax gives the validation labels the least NLL (grid)."""
    best, best_nll = 1.0, math.inf
    for t in np.exp(np.linspace(math.log(0.3), math.log(5.0), 141)):
        p = cellnet.softmax(logits, float(t))
        nll = -float(np.mean(np.log(np.maximum(p[np.arange(len(labels)), labels], 1e-12))))
        if nll < best_nll:
            best, best_nll = float(t), nll
    return round(best, 4)


def accuracy_by_source(logits: np.ndarray, labels: np.ndarray,
                       sources: np.ndarray) -> dict[str, dict[str, float]]:
    """Top-1 accuracy over all classes, per source, with the cell count."""
    out: dict[str, dict[str, float]] = {}
    pred = logits.argmax(axis=1)
    for k, name in enumerate(data.SOURCES):
        m = sources == k
        if m.any():
            out[name] = {"cells": int(m.sum()), "accuracy": round(float((pred[m] == labels[m]).mean()), 5)}
    out["all"] = {"cells": len(labels), "accuracy": round(float((pred == labels).mean()), 5)}
    return out


def export_onnx(model: nn.Module, path: Path) -> None:
    model.eval()
    x = torch.zeros(2, 1, cellnet.INPUT_H, cellnet.INPUT_W)
    torch.onnx.export(model, (x,), str(path), dynamo=False, input_names=["cells"],
                      output_names=["logits"], opset_version=17,
                      dynamic_axes={"cells": {0: "n"}, "logits": {0: "n"}})


def train(cfg: Config, out: Path, command: str, log=print) -> dict:
    limit = _OMP_LIMIT
    if limit.isdigit() and int(limit) < cfg.threads:
        # more torch threads than OpenMP allows spin forever (seen: OMP_THREAD_LIMIT=1, which
        # extractors.tesseract sets, inherited from a parent process)
        log(f"OMP_THREAD_LIMIT={limit}: {limit} thread(s) instead of {cfg.threads}")
        cfg = replace(cfg, threads=max(int(limit), 1))
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    started, cpu0 = time.perf_counter(), time.process_time()
    x, y, _ = build_set(cfg, "train", cfg.n_train, augment=True)
    xv, yv, sv = build_set(cfg, "val", cfg.n_val, augment=False)
    xb, yb, sb = build_set(cfg, "bench", cfg.n_bench, augment=False)
    made = time.perf_counter() - started
    log(f"data: {len(x)} train, {len(xv)} val, {len(xb)} bench cells in {made:.0f} s")

    model = CellNet(cfg.widths, cfg.hidden, len(CLASSES))
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * math.ceil(len(x) / cfg.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps,
                                                pct_start=0.15)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    gen = torch.Generator().manual_seed(cfg.seed)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for epoch in range(cfg.epochs):
        model.train()
        order = torch.randperm(len(xt), generator=gen)
        total, seen = 0.0, 0
        for i in range(0, len(order), cfg.batch):
            idx = order[i : i + cfg.batch]
            xb_ = xt[idx]
            k = round(cfg.warp_share * len(idx))
            if k:
                xb_ = torch.cat([warp(xb_[:k], gen), xb_[k:]])
            loss = loss_fn(model(xb_), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
            seen += len(idx)
        val = accuracy_by_source(_logits(model, xv), yv, sv)
        log(f"epoch {epoch + 1}/{cfg.epochs}: loss {total / seen:.4f}, val "
            + ", ".join(f"{k} {v['accuracy']:.4f}" for k, v in val.items())
            + f" ({time.perf_counter() - started:.0f} s)")

    lv = _logits(model, xv)
    # the temperature is fitted on real handwriting by writers never trained on (NIST "cal"
    # writers) when validation has them; the generator's validation writers would teach the
    # softmax to trust the generator's own hand
    cal = sv == data.SOURCES.index("nist")
    temperature_cells = "nist cal writers" if cal.any() else "all validation cells"
    if not cal.any():
        cal = np.ones(len(yv), bool)
    temperature = fit_temperature(lv[cal], yv[cal])
    bench = accuracy_by_source(_logits(model, xb), yb, sb)
    elapsed = time.perf_counter() - started
    out.mkdir(parents=True, exist_ok=True)
    export_onnx(model, out / "cellnet.onnx")
    meta = {
        "classes": CLASSES,
        "input": {"height": cellnet.INPUT_H, "width": cellnet.INPUT_W, "channels": 1,
                  "layout": "NCHW float32",
                  "preprocessing": "extractors.cellnet.preprocess: the cell_crop scaled to fit "
                                   "HxW keeping its aspect, centred, value (255 - grey) / 255, "
                                   "paper 0"},
        "output": "logits; softmax(logits / temperature)",
        "temperature": temperature,
        "temperature_fitted_on": temperature_cells,
        "parameters": params,
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()},
        "data": {"train": len(x), "val": len(xv), "bench": len(xb),
                 "splits": (f"train: generator 'train' writers < {data.TRAIN_WRITERS}, "
                            f"MNIST train rows (first {round(100 * data.MNIST_TRAIN_SHARE)}%), "
                            "NIST SD19 'train' writers, fonts data.TRAIN_FONTS; val: the other "
                            "'train' writers and MNIST rows, NIST 'cal' writers; bench: 'bench' "
                            "writers, MNIST bench rows, NIST 'bench' writers, the generator's "
                            "five Patronato fonts")},
        "val_accuracy": accuracy_by_source(lv, yv, sv),
        "bench_accuracy": bench,
        "bench_note": "top-1 over all 42 classes, no alphabet restriction; plico bench cells "
                      "gives the per-alphabet figures beside Tesseract",
        "train_seconds": round(elapsed),
        "train_cpu_seconds": round(time.process_time() - cpu0),
        "torch": torch.__version__,
        "command": command,
    }
    save_meta(out, meta, log, f"temperature {temperature}; {params} parameters; {elapsed:.0f} s")
    return meta


def save_meta(out: Path, meta: dict, log, note: str) -> None:
    """Write `meta` as out/cellnet.json and log its bench figures, then `note`."""
    (out / "cellnet.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    log("bench: " + ", ".join(f"{k} {v['accuracy']:.4f}" for k, v in meta["bench_accuracy"].items())
        + f"; {note} -> {out}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="folder for cellnet.onnx/.json")
    ap.add_argument("--tiny", action="store_true", help="a seconds-long run (tests)")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--n-train", type=int)
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--mix", help="source weights, e.g. hand=0.45,mnist=0.35,typed=0.2")
    ap.add_argument("--widths", help="the four conv widths, e.g. 32,64,96,128")
    ap.add_argument("--hidden", type=int, help="width of the dense layer")
    ap.add_argument("--mnist-warp", type=float, help="distortion of training MNIST digits")
    args = ap.parse_args(argv)
    cfg = TINY if args.tiny else Config()
    if args.widths:
        try:
            widths = tuple(int(w) for w in args.widths.split(","))
        except ValueError:
            ap.error(f"--widths: want four integers, got {args.widths!r}")
        if len(widths) != 4 or min(widths) < 1:
            ap.error(f"--widths: want four positive integers, got {args.widths!r}")
        cfg = replace(cfg, widths=widths)
    for name in ("seed", "n_train", "epochs", "threads", "hidden", "mnist_warp"):
        if getattr(args, name) is not None:
            cfg = replace(cfg, **{name: getattr(args, name)})
    if args.mix:
        try:
            mix = tuple((k, float(v)) for k, v in (p.split("=") for p in args.mix.split(",")))
        except ValueError:
            ap.error(f"--mix: want SOURCE=WEIGHT,..., got {args.mix!r}")
        unknown = {k for k, _ in mix} - set(data.SOURCES)
        if unknown:
            ap.error(f"--mix: unknown source(s) {sorted(unknown)}; known: {data.SOURCES}")
        cfg = replace(cfg, mix=mix)
    command = "python tools/train_cells.py " + " ".join(sys.argv[1:] if argv is None else argv)
    train(cfg, args.out, command)
    return 0
