"""The words of free text: a word the cells read that is no word is weighed against the words
it could be.

An address, an employer's name, a job or a reason for the stay is written in words of a
language, mostly Italian. The classifier reads each cell alone and the spelling model
(`spelling`, `free_text.in_context`) knows how words are spelt but not which exist: PULIZIS,
SR6 and R0M4 (a hand whose A reads 4) pass it. Here each word of the
decoded text that is in no list is weighed against the listed words of its length, letter by
letter on the cells' probabilities read with their neighbours (`mend`).

The list (`is_listed`): the Italian word list of Debian's `witalian` package
(/usr/share/dict/italian, GPL-3+, 116,758 words; `PLICO_WORDLIST` points elsewhere; without it
the list is the rest), the words of the ISTAT comuni's names, the street types
(validators/tables/dug.csv) and the abbreviations of Italian legal forms that close a
company's name (validators/tables/forme_giuridiche.csv: SRL, SPA, SNC...). No applicant's
name, employer or job list of the generator is in it.
"""

from __future__ import annotations

import math
import os
import re
import unicodedata
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np

from extractors.cell_dist import DISAGREE, FLOOR, PLAUSIBLE, runs
from extractors.comuni import COMUNI_CSV, comuni, table_rows
from extractors.recognise import LETTERS, TWINS

WORDLIST = Path("/usr/share/dict/italian")
LEGAL_FORMS_CSV = COMUNI_CSV.with_name("forme_giuridiche.csv")
#: Shorter words are left as read: too many words of two letters are one letter apart.
MIN_LETTERS = 3


def wordlist_path() -> Path:
    return Path(os.environ.get("PLICO_WORDLIST") or WORDLIST)


def _read_words() -> set[str]:
    """Every listed word, in block capitals without accents (CITTA' is written CITTA and an
    apostrophe, which ends a word), letters only."""
    lines: list[str] = []
    path = wordlist_path()
    if path.is_file():
        listed = unicodedata.normalize("NFKD", path.read_text(encoding="utf-8", errors="replace"))
        lines.append(re.sub("[\u0300-\u036f]", "", listed).upper())
    lines.extend(w for c in comuni() for w in re.split(r"[^A-Z]+", c.name))
    lines.extend(r["dug"] for r in table_rows(COMUNI_CSV.with_name("dug.csv")))
    lines.extend(r["sigla"] for r in table_rows(LEGAL_FORMS_CSV))
    return set(re.findall(f"(?m)^[A-Z]{{{MIN_LETTERS},}}$", "\n".join(lines)))


@cache
def _lists() -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per length, the listed words sorted (fixed-width bytes, for a binary search: a
    Python set of them would hold about ten times the memory) and their letters' indices in
    A-Z (read-only)."""
    by_length: dict[int, list[str]] = {}
    for w in _read_words():
        by_length.setdefault(len(w), []).append(w)
    out = {}
    for n, ws in by_length.items():
        listed = np.array(sorted(ws), dtype=f"S{n}")
        codes = listed.view(np.uint8).reshape(len(ws), n) - ord("A")
        listed.flags.writeable = codes.flags.writeable = False
        out[n] = (listed, codes)
    return out


def is_listed(word: str) -> bool:
    """Whether `word` (block capitals) is a listed word."""
    got = _lists().get(len(word))
    if got is None or not word.isascii():
        return False
    key = word.encode("ascii")
    i = int(np.searchsorted(got[0], key))
    return i < len(got[0]) and got[0][i] == key


def size() -> int:
    """How many words are listed."""
    return sum(len(listed) for listed, _ in _lists().values())


def mend(alphabet: str, post: np.ndarray, picks: np.ndarray, factors: np.ndarray,
         links: Sequence[bool]) -> tuple[np.ndarray, np.ndarray]:
    """Free text's words mended to listed words. `post` holds per cell the probability of
    each character of `alphabet` read with its neighbours (`free_text.context_marginals`: a
    letter beside a digit is unlikely), `picks` the characters chosen, `factors` each cell's
    share of the field's confidence.

    A word that is no listed word, of `MIN_LETTERS` or more and like a word (`_wordlike`), is
    replaced by the listed word of its length that `post` makes likeliest, when that word is
    no more than `DISAGREE` less likely than the word as picked; its cells' factors become
    that word's share against the other words of its length and the word as picked
    (`DISAGREE` less likely a priori), spread over its cells, times each cell's chance of
    holding a letter. A word a listed word is within `PLAUSIBLE` of stays, its factors
    times its own share against the listed words; a word no listed word is near stays as
    sure as it was (a name, a street's namesake).
    Returns the picks and the factors."""
    cols = np.array([alphabet.find(c) for c in LETTERS])
    if (cols < 0).any():
        return picks, factors
    chars = [alphabet[j] for j in picks]
    logp = np.log(np.maximum(post, FLOOR))
    picks, factors = picks.copy(), factors.copy()
    for run in runs([c.isalnum() for c in chars], links):
        word = "".join(chars[i] for i in run)
        if len(run) < MIN_LETTERS or is_listed(word) or not _wordlike(word) \
                or len(run) not in _lists():
            continue
        listed, codes = _lists()[len(run)]
        scores = logp[np.array(run)[None, :], cols[codes]].sum(axis=1)
        read = float(logp[run, picks[run]].sum())
        best = int(np.argmax(scores))
        top = float(scores[best])
        if top < read - PLAUSIBLE:
            continue
        if top < read - DISAGREE:
            # the word stays as read, as sure as it is against the listed words it could
            # be (NIST seed 10130: SUBORDINATO read SUDORDINATO, accepted at 0.87)
            mass = float(np.exp(scores - read + DISAGREE).sum())
            factors[run] *= (1.0 / (1.0 + mass)) ** (1.0 / len(run))
            continue
        share = 1.0 / (float(np.exp(scores - top).sum()) + math.exp(read - DISAGREE - top))
        picks[run] = cols[codes[best]]
        factors[run] = post[run][:, cols].sum(axis=1) * share ** (1.0 / len(run))
    return picks, factors


def digits_to_words(text: str, free: str, links: Sequence[bool]) -> list[int]:
    """The cells of the words of `text` that are listed words where the cells' own reading
    `free` has digits and is like a word (`_wordlike`: R0M4, F4M1GLI4 for ROMA, FAMIGLIA):
    a hand's letters the classifier took for digits, which the word's neighbours and the
    list read back."""
    out: list[int] = []
    for run in runs([c.isalnum() for c in text], links):
        word, read = "".join(text[i] for i in run), "".join(free[i] for i in run)
        if is_listed(word) and any(map(str.isdigit, read)) and _wordlike(read):
            out.extend(run)
    return out


def _wordlike(read: str) -> bool:
    """A word as read that may be a word: a letter no digit looks like (not 200, 21B) and at
    least half of it letters or digits that look like one (4N1T1 for UNITI: N, T, 1, 1)."""
    solid = sum(c.isalpha() and c not in TWINS for c in read)
    return solid > 0 and 2 * (solid + sum(c in TWINS for c in read)) >= len(read)
