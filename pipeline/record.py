"""The istanza record: what Plico emits per envelope (schema `plico-record/1`).

Documented in docs/record.md, its JSON Schema in docs/record.schema.json (`plico schema
record`). Field values use the truth format's normalisation (pipeline/normalise.py), so a
record can be scored against a generated batch's truth.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from validators.catalogue import catalogue, message

RECORD_SCHEMA = "plico-record/1"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PageRef(_Model):
    """One scanned page of the kit."""

    source: str  # input file name
    sha256: str  # of the input file
    index: int  # 0-based page index in that file
    kind: str  # m1p1.., m2p1.., label, passport, permit, bollettino, attachment, blank, unknown
    owner: str = ""  # m1, m1#2 for form pages
    rotation: int = 0  # clockwise turn found on the page (and undone)
    skew_deg: float = 0.0
    blank: bool = False
    dpi: int
    registration_score: float | None = None
    # kind "unknown": the form page (m1p3...) its printed footer names, its grid unregistered
    printed_page: str | None = None


class FieldValue(_Model):
    value: str | bool
    confidence: float
    status: Literal["accepted", "review"]
    page: int  # index into kit.pages
    bbox: tuple[float, float, float, float]  # x, y, w, h in pixels of the registered page
    crop: str | None = None  # storage key / relative path of the crop image
    # what the cells said on their own when decoding (a table, the ISTAT list, a name's
    # letters, another field) chose another value; None when the value is the cells' reading
    read_as: str | None = None
    # for a field sent to review: other values its cells plausibly say, with their share of
    # the decoder's hypotheses, best first (rules weigh them before raising an anomaly); a
    # check box's or the signature's: the other state, at one less its confidence
    alternatives: list[tuple[str | bool, float]] | None = None


class Attachment(_Model):
    kind: str  # passport, permit, bollettino, attachment
    pages: list[int]
    mrz: dict[str, Any] | None = None  # fields, lines, check digits, valid
    amount_cents: int | None = None

    @property
    def mrz_fields(self) -> dict[str, Any] | None:
        """The MRZ's fields where every check digit holds, else None."""
        return self.mrz["fields"] if self.mrz and self.mrz.get("valid") and self.mrz.get("fields") \
            else None


class Anomaly(_Model):
    code: str
    category: str
    severity: str
    fields: list[str] = Field(default_factory=list)
    pages: list[int] = Field(default_factory=list)
    evidence: dict[str, Any] = Field(default_factory=dict)
    message_it: str
    message_en: str

    @classmethod
    def make(cls, code: str, *, fields: list[str] | None = None, pages: list[int] | None = None,
             **evidence: Any) -> Anomaly:
        entry = catalogue()[code]
        return cls(code=code, category=entry["category"], severity=entry["severity"],
                   fields=fields or [], pages=pages or [], evidence=evidence,
                   message_it=message(code, "it", evidence), message_en=message(code, "en", evidence))


class Kit(_Model):
    batch: str
    number: int  # 1-based position of the kit in its batch
    assicurata: str | None
    codice_istanza: str | None
    pages: list[PageRef]
    sheets_counted: int


class Record(_Model):
    schema_version: str = RECORD_SCHEMA
    pipeline_version: str
    kit: Kit
    fields: dict[str, FieldValue]
    attachments: list[Attachment]
    anomalies: list[Anomaly]
    inputs: list[dict[str, str]]  # name, sha256
    timings: dict[str, float]  # seconds per step for this kit
