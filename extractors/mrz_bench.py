"""Bench of the MRZ reader: generated passport and permit copies, or real specimens, read by
`extractors.mrz.read_mrz` and tallied (check-valid, exact, milliseconds per page)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from extractors.mrz import read_mrz


@dataclass(frozen=True, slots=True)
class MrzSample:
    """A page to bench: its name, image, dpi and the MRZ lines it carries (None: unknown,
    only the check digits count)."""

    name: str
    image: np.ndarray
    dpi: float
    expected: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class MrzBenchRow:
    """One line of `plico bench`: pages, the share whose reading is check-valid, the share
    read exactly (of the pages with known lines; None without), milliseconds per page."""

    label: str
    files: int
    valid_rate: float
    exact_rate: float | None
    ms_per_page: float
    failures: tuple[str, ...]  # names of pages not valid (or not exact)


def bench_mrz(samples: Iterable[MrzSample], label: str, *, today: date | None = None
              ) -> MrzBenchRow:  # fmt: skip
    """Read every sample with `read_mrz` and tally validity, exactness and time."""
    files = valid = exact = known = 0
    elapsed = 0.0
    failures = []
    for s in samples:
        t0 = time.perf_counter()
        r = read_mrz(s.image, s.dpi, today=today)
        elapsed += time.perf_counter() - t0
        files += 1
        ok = r is not None and r.valid
        valid += ok
        if s.expected is not None:
            known += 1
            hit = r is not None and r.lines == tuple(s.expected)
            exact += hit
            ok = ok and hit
        if not ok:
            failures.append(s.name)
    return MrzBenchRow(label, files, valid / files if files else 0.0,
                       exact / known if known else None,
                       1000 * elapsed / files if files else 0.0, tuple(failures))  # fmt: skip


def synthetic_mrz_samples(count: int, *, seed: int = 0, dpis: Sequence[int] = (200, 300),
                          modes: Sequence[str] = ("grey", "bitonal"),
                          kinds: Sequence[str] = ("passport", "permit"),
                          today: date | None = None) -> Iterable[MrzSample]:  # fmt: skip
    """Generated passport and permit copies through the scanner simulation (upright, at
    most 0.5° residual skew), cycling through `dpis`, `modes` and `kinds`; each sample
    carries its true MRZ. Needs the sample_scans package (the generator)."""
    from datetime import timedelta

    from sample_scans.synth import documents, people
    from sample_scans.synth.scanner import ScanProfile, scan

    today = today or date.today()
    combos = list(itertools.product(kinds, dpis, modes))
    for k in range(count):
        kind, dpi, mode = combos[k % len(combos)]
        rng = np.random.default_rng(seed + k)
        p = people.sample_person(rng, today)
        if kind == "passport":
            page, meta = documents.passport_copy(documents.PassportData(
                surname=p.surname, given_names=p.given_names, number=p.passport_number,
                nationality=p.citizenship, birth_date=p.birth_date, sex=p.sex,
                birth_place=p.birth_city, issue_date=p.passport_issued,
                expiry_date=p.passport_expiry), dpi, rng)  # fmt: skip
        else:
            page, meta = documents.permit_copy(documents.PermitData(
                surname=p.surname, given_names=p.given_names,
                number=f"I{int(rng.integers(10**8)):08d}", sex=p.sex,
                nationality=p.citizenship, birth_date=p.birth_date,
                expiry_date=today + timedelta(days=int(rng.integers(60, 1800))),
                permit_type="LAVORO SUBORDINATO"), dpi, rng)  # fmt: skip
        profile = ScanProfile(dpi=dpi, mode=mode, max_skew_deg=0.5, p_upside_down=0.0,
                              p_sideways=0.0)  # fmt: skip
        image, _ = scan(page, rng, profile)
        yield MrzSample(f"{kind}-{seed + k}-{dpi}-{mode}", image, dpi, tuple(meta.mrz))
