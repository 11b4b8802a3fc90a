"""The project's YAML data files (form model, tables, anomaly catalogue, messages), parsed by
libyaml where PyYAML was built with it: the form model's geometry in about 15 ms instead of
80 ms with the pure-Python parser, which every process paid at its first page (measured)."""

from __future__ import annotations

from typing import Any

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """`yaml.safe_load`, with libyaml's parser when there is one."""
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader, C or Python
