"""The ground-truth format of a generated batch (BATCH.truth.json), in docs/benchmarks.md.

Field values are normalised as pipeline/normalise.py says, the same way the pipeline's records
are, so that scoring a reading is a plain comparison.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

TRUTH_SCHEMA = "plico-truth/1"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PageTruth(_Frozen):
    """One scanned page of the batch, in scan order."""

    index: int  # 0-based position in the batch (and in each output file)
    kit: int | None  # kit index, None for pages that belong to no kit
    kind: str  # label, m1p1..m1p8, m2p1..m2p3, passport, permit, bollettino, <attachment>, blank
    owner: str  # whose sheet: m1, m1#2 (a family member's Modulo 1), "" for the label page
    sheet: int | None  # 1-based sheet number within the kit; None for the label page
    side: Literal["front", "back"]
    rotation: int  # 0/90/180/270: clockwise rotation of the content as fed to the scanner
    skew_deg: float  # residual skew, positive = content rotated counter-clockwise
    dpi: int
    mode: Literal["grey", "bitonal"]
    blank: bool


class KitTruth(_Frozen):
    """One envelope."""

    index: int
    assicurata: str | None  # 12 digits; None when the label page is missing
    codice_istanza: str
    ologramma: str
    questura: str  # province sigla of the header
    application_date: str  # YYYY-MM-DD (what m1.28 says in a clean kit)
    request: str  # rilascio, rinnovo, aggiornamento, duplicato, conversione
    document: str  # permesso, carta
    motivo: str
    filled_by: Literal["hand", "typed"]
    pages: tuple[int, int]  # first and last batch page index of the kit (inclusive)
    sheets: int  # sheets actually in the envelope: forms + photocopies, not the label page
    attachments: list[str]  # kinds of the photocopies, in scan order
    fields: dict[str, str | bool]
    anomalies: list[str]  # expected anomaly codes (planted and their consequences), sorted
    planted: list[dict]  # what was planted, with the fields and values involved
    # fields written on the paper whose ink the scan erased (a light pen under a bitonal
    # threshold: sample_scans.synth.batch.erased_fields); what they say is not in the image
    erased_fields: list[str] = []


class BatchTruth(_Frozen):
    schema_version: str = TRUTH_SCHEMA
    batch: str
    generator: str
    seed: int
    options: dict[str, str | int | float | bool]
    files: list[str]
    pages: list[PageTruth]
    kits: list[KitTruth]

    def dump(self, path: Path) -> None:
        path.write_text(self.model_dump_json(indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> BatchTruth:
        return cls.model_validate_json(path.read_text(encoding="utf-8"))
