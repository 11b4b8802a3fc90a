"""How names are spelt in Latin letters: a character model that reads a name's cells together.

The cell classifier reads each cell alone, and on real hand print it is right about 19 times
in 20 per capital (`docs/model-card.md`): a surname of eight letters comes out whole about
two times in three. Yet a name is not any string of letters. Its letters follow the
spelling of a language (a vowel between consonants, Q before U, no run of five consonants),
and the right letter is usually one of the classifier's next guesses where it erred
(MELNYH, ZHAHG, KRASNIQL). A character 4-gram model of names tells which of those guesses
spell a name.

The model of names is estimated from the world's place names (`gazetteer.CITIES_CSV`:
122,662 names of GeoNames towns in every country, in the Latin transliteration a form holds
them). Personal names and place names share their languages' spelling, and the list holds no
applicant's name: the model knows how names are spelt, not which names exist. An Italian
address is spelt by a model of the ISTAT comuni's names (`SOURCES`). Interpolated
absolute discounting (`DISCOUNT`) from 4-grams down to one letter in 27 (A-Z and the word's
boundary), each word read on its own.

`decode_words` finds the best spelling of a name's words under the cells' probabilities and
the model (`WEIGHT`), exactly, over each cell's likeliest letters (`CANDIDATES`), and its
posterior share among all spellings. Measured on NIST SD19 handwriting never trained on by
`plico bench names` (extractors/spelling_bench.py; docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np

from extractors import gazetteer
from extractors.comuni import comuni
from extractors.recognise import LETTERS

#: n of the n-gram model: a letter given the three before it in its word.
ORDER = 4
#: Absolute discount of every n-gram count (Ney, Essen and Kneser 1994): what each seen
#: n-gram gives up to the next lower order.
DISCOUNT = 0.75
#: The model's log-probability counts this much against the cells' (chosen on NIST "cal"
#: writers' names, tools/calibrate_decode.py's writers, never on the bench writers).
WEIGHT = 0.5
#: Letters per cell weighed: the classifier's likeliest, those within e^`SPAN` (150 times)
#: of its best. However odd a word's spelling, a letter its cells rule out is not spelt into
#: it (YAHOO in an Italian address stays YAHOO). On the NIST "cal" writers' names a span of
#: 12 was no better, and 2.5 times slower.
CANDIDATES = 6
SPAN = 5.0

_SYMBOLS = 27  # 0: a word's boundary; 1-26: A-Z


def _symbols(codes: np.ndarray) -> np.ndarray:
    """ASCII codes to symbols: A-Z to 1-26, anything else to the boundary 0."""
    lut = np.zeros(256, np.uint8)
    for i, c in enumerate(LETTERS, 1):
        lut[ord(c)] = i
    return lut[codes]


def ngram_counts(names: np.ndarray, chunk: int = 20_000) -> np.ndarray:
    """Counts of every 4-gram of symbols in `names` (rows of ASCII codes, 0-padded), words
    apart: a context reaches back to its word's start and no further (27^4 counts)."""
    counts = np.zeros(_SYMBOLS ** ORDER, np.int64)
    weights = _SYMBOLS ** np.arange(ORDER - 1, -1, -1)
    for start in range(0, len(names), chunk):
        sym = _symbols(names[start:start + chunk])
        padded = np.pad(sym, ((0, 0), (ORDER - 1, 1)))
        win = np.lib.stride_tricks.sliding_window_view(padded, ORDER, axis=1)
        win = win.reshape(-1, ORDER).copy()
        win = win[(win[:, -1] != 0) | (win[:, -2] != 0)]  # a letter, or a word's end
        for j in range(ORDER - 1):
            win[win[:, j] == 0, :j] = 0  # nothing before a boundary counts
        counts += np.bincount(win.astype(np.int64) @ weights, minlength=counts.size)
    return counts.reshape((_SYMBOLS,) * ORDER)


def probabilities(counts: np.ndarray, discount: float = DISCOUNT) -> np.ndarray:
    """P(symbol | the 3 before it) from 4-gram `counts`, interpolated down to uniform."""
    lower = np.full(_SYMBOLS, 1.0 / _SYMBOLS)
    for k in range(1, ORDER + 1):
        n = counts.sum(axis=tuple(range(ORDER - k))) if k < ORDER else counts
        n = n.astype(np.float64)
        total = n.sum(axis=-1, keepdims=True)
        seen = (n > 0).sum(axis=-1, keepdims=True)
        safe = np.maximum(total, 1.0)
        p = np.maximum(n - discount, 0.0) / safe + discount * seen / safe * lower
        lower = np.where(total > 0, p, np.broadcast_to(lower, p.shape))
    return lower


#: The lists a model is estimated from: "world", the names of the world's towns (people's
#: names, cities of birth); "italy", the ISTAT comuni (Italian words: an address's street).
SOURCES = ("world", "italy")


def _names(source: str) -> np.ndarray:
    if source == "world":
        return gazetteer.names_ascii()
    if source != "italy":
        raise ValueError(f"source must be one of {SOURCES}, not {source!r}")
    names = [c.name.encode("ascii", "replace") for c in comuni()]
    return np.array(names).view(np.uint8).reshape(len(names), -1)


@cache
def model(source: str = "world") -> np.ndarray:
    """log P(symbol | three symbols before it), float32 27^4, estimated from `source`'s
    names (read-only)."""
    lp = np.log(probabilities(ngram_counts(_names(source)))).astype(np.float32)
    lp.flags.writeable = False
    return lp


def _word(logp: np.ndarray, lm: np.ndarray, weight: float) -> tuple[list[int], float, float]:
    """The best spelling of one word (letter indices), its score and the log-sum of every
    spelling's score, score = the cells' log-probabilities + weight x the model's."""
    hist = np.zeros((1, ORDER - 1), np.int64)
    best = np.zeros(1)
    total = np.zeros(1)
    paths: list[list[int]] = [[]]
    for row in logp:
        order = np.argsort(-row)[:CANDIDATES]
        cand = order[row[order] >= row[order[0]] - SPAN]
        sym = cand + 1
        step = row[cand][None, :] + weight * lm[hist[:, 0][:, None], hist[:, 1][:, None],
                                                hist[:, 2][:, None], sym[None, :]]
        v = (best[:, None] + step).ravel()
        f = (total[:, None] + step).ravel()
        new = np.concatenate([np.repeat(hist[:, 1:], len(cand), axis=0),
                              np.tile(sym, len(hist))[:, None]], axis=1)
        keys = new @ (_SYMBOLS ** np.arange(ORDER - 2, -1, -1))
        uniq, inv = np.unique(keys, return_inverse=True)
        # Viterbi: per state the best arrival; forward: the log-sum of all
        rank = np.lexsort((-v, inv))
        first = rank[np.r_[True, inv[rank][1:] != inv[rank][:-1]]]
        fsum = np.full(len(uniq), -np.inf)
        np.logaddexp.at(fsum, inv, f)
        src = first // len(cand)
        paths = [paths[s] + [int(cand[j])] for s, j in zip(src, first % len(cand))]
        hist, best, total = new[first], v[first], fsum
    end = weight * lm[hist[:, 0], hist[:, 1], hist[:, 2], 0]
    k = int(np.argmax(best + end))
    return paths[k], float(best[k] + end[k]), float(np.logaddexp.reduce(total + end))


def decode_words(logp: np.ndarray, words: Sequence[Sequence[int]],
                 weight: float | None = None,
                 source: str = "world") -> tuple[dict[int, int], float]:
    """The best spelling of each word: `logp` holds per cell the log-probability of each of
    A-Z (rows normalised over the letters), `words` the rows of each word in order. Returns
    the chosen letter index per row and the log posterior share of the chosen spelling of
    all the words together among all their spellings, under `source`'s model, weighed by
    `weight` (None: `WEIGHT`; 0 reads each cell's likeliest letter)."""
    lm = model(source)
    weight = WEIGHT if weight is None else weight
    out: dict[int, int] = {}
    share = 0.0
    for rows in words:
        if not len(rows):
            continue
        path, score, norm = _word(logp[list(rows)], lm, weight)
        out.update(zip(rows, path))
        share += score - norm
    return out, share
