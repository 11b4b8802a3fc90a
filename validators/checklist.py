"""Required photocopies per motivo and request type (validators/tables/attachments.yaml)."""

from __future__ import annotations

from functools import cache
from importlib import resources

from pipeline.yamldata import load_yaml


@cache
def _checklist() -> dict:
    text = resources.files("validators").joinpath("tables", "attachments.yaml").read_text("utf-8")
    return load_yaml(text)


def attachment_kinds() -> dict[str, str]:
    """Attachment kind -> its Italian description."""
    return dict(_checklist()["kinds"])


def required_attachments(motivo: str, request: str, questura: str | None = None) -> tuple[str, ...]:
    """The attachment kinds the checklist in force for a Questura requires, in order."""
    data = _checklist()
    entries = list(data["default"])
    override = data.get("overrides", {}).get(questura or "")
    if override:
        replaced = {(e["motivo"], e["request"]) for e in override["entries"]}
        entries = [e for e in entries if (e["motivo"], e["request"]) not in replaced]
        entries += override["entries"]
    out: list[str] = []
    for e in entries:
        if e["motivo"] in ("*", motivo) and e["request"] in ("*", request):
            out.extend(k for k in e["require"] if k not in out)
    return tuple(out)
