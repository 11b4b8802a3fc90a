"""Names and free text read from their cells: letters and digits by their neighbours, words
spelt (`spelling`), names of letters only.

`in_context` reads free text (an address, an employer, a document number) with each
cell's neighbours' kind of character (`cell_dist.context_marginals`); with words of letters
it keeps no stray digit, no loose slash, and spells each word by a spelling model.
`letters_only` reads a name of a person or place: letters and ' - . only, each word spelt
by the world's names' model. `decode.decode_field` calls them for the fields they fit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from extractors import lexicon, spelling
from extractors.cell_dist import (
    DISAGREE,
    FLOOR,
    K,
    CellDist,
    Decoded,
    SLASH,
    _free,
    _free_share,
    _with_prior,
    context_marginals,
    fold_twins,
    kbest,
    runs,
    touching,
)
from extractors.recognise import LETTERS, TWINS

#: The characters of a name of a person or place.
NAME_CHARS = LETTERS + "'-. "
_NAME_PRIOR = 0.01  # a digit or other symbol in a name field, relative to its reading


def in_context(dist: CellDist, mask: Sequence[bool], words: bool = False,
                spell: str | None = None) -> Decoded:
    """Free text read with its neighbours' kind (`context_marginals`), the cells'
    marginals maximised one by one; its share is the product of their marginals. With
    `words` (text of words, not an e-mail), a word of letters keeps no stray digit
    (`_letter_words`); with `spell`, each word of letters is spelt by that source's
    spelling model (`_spelt`) and mended to a listed word when one is near
    (`lexicon.mend`), and the text is doubted if it is `DISAGREE` less likely in the cells
    than their reading, the cells of listed words the cells read with digits aside
    (`lexicon.digits_to_words`: R0M4, by a hand whose A reads 4, is ROMA)."""
    links = touching(mask)
    post = context_marginals(dist, links)
    picks = post.argmax(axis=1)
    text = "".join(dist.alphabet[j] for j in picks)
    free = dist.best()
    unlikely = dist.ll(text) < dist.ll(free) - DISAGREE
    if unlikely and not spell:
        return _doubted(dist, free)
    picks = _no_loose_slash(dist.alphabet, post, picks, links)
    if words:
        picks = _letter_words(dist.alphabet, post, picks, links)
    factors = post[np.arange(len(picks)), picks]
    read = "".join(dist.alphabet[j] for j in picks)
    if spell:
        picks, factors = _spelt(dist.alphabet, post, picks, factors, links, spell)
        picks, factors = lexicon.mend(dist.alphabet, post, picks, factors, links)
    text = "".join(dist.alphabet[j] for j in picks)
    share = float(np.prod(factors))
    listed = lexicon.digits_to_words(text, free, links) if spell else []
    kept = np.setdiff1d(np.arange(dist.n), listed)
    conflict = _ll(dist, text, kept) < max(_ll(dist, free, kept), _ll(dist, read, kept)) - DISAGREE
    if unlikely and (conflict or not listed):
        return _doubted(dist, free)
    hyps = tuple([(text, dist.ll(text))] + [h for h in kbest(dist) if h[0] != text])[:K]
    return Decoded(text, share, free, text != free, conflict, hyps)


def _doubted(dist: CellDist, free: str) -> Decoded:
    """The cells' own reading, in conflict: context made the text too unlikely."""
    return Decoded(free, _free_share(dist), free, False, True, tuple(kbest(dist)))


def _ll(dist: CellDist, text: str, rows: np.ndarray) -> float:
    """Log-likelihood of `text`'s characters in `rows` only."""
    return float(dist.logp[rows, [dist.alphabet.find(text[i]) for i in rows]].sum())


def _spelt(alphabet: str, post: np.ndarray, picks: np.ndarray, factors: np.ndarray,
           links: Sequence[bool], source: str) -> tuple[np.ndarray, np.ndarray]:
    """`picks` with each word of letters (`cell_dist.runs`) spelt by the cells' letter marginals
    and `source`'s spelling model (`spelling.decode_words`), and `factors` (per cell, the
    chosen character's marginal) with a spelt word's cells taking the word's posterior share
    (spread over its cells) times each cell's chance of holding a letter or a look-alike
    digit (`fold_twins`)."""
    letters = np.array([c in LETTERS for c in alphabet])
    words = runs([bool(letters[j]) for j in picks], links)
    if not words:
        return picks, factors
    folded = fold_twins(CellDist(alphabet, post, True), LETTERS).probs
    logp, mass = _letter_logp(folded, letters)
    cols = np.flatnonzero(letters)
    out, factors = picks.copy(), factors.copy()
    for word in words:
        got, log_share = spelling.decode_words(logp, [word], source=source)
        for i, j in got.items():
            out[i] = cols[j]
        factors[word] = mass[word] * math.exp(log_share / len(word))
    return out, factors


def _letter_logp(probs: np.ndarray, letters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per cell, the log-probability of each letter among the letters (what the spelling
    model weighs), and the cell's probability of holding a letter at all."""
    p = probs[:, letters]
    mass = p.sum(axis=1)
    return np.log(np.maximum(p / np.maximum(mass[:, None], 1e-12), FLOOR)), mass


def _no_loose_slash(alphabet: str, post: np.ndarray, picks: np.ndarray,
                    links: Sequence[bool]) -> np.ndarray:
    """`picks` with a slash that begins or ends a run of touching cells replaced by the
    cell's likeliest other character: a slash stands between two things (12/3, 12/B); alone
    at an end it is a slanted stroke (seed 8900: house numbers 161 and 131 came out 16/ and
    13/, accepted)."""
    j = alphabet.find(SLASH)
    if j < 0:
        return picks
    out = picks.copy()
    n = len(picks)
    for i in np.flatnonzero(picks == j):
        inside = 0 < i < n - 1 and links[i - 1] and links[i]
        if not inside:
            score = post[i].copy()
            score[j] = -1.0
            out[i] = int(np.argmax(score))
    return out


#: A word of free text with at least this many letters for each digit is a word of letters:
#: its digits are letters the classifier took for digits (seed 8800: PULIZIE and SERVIZI
#: came out PULI31E and SERV131, a writer's Z read as 3), not a code like 12B or A2.
_LETTERS_PER_DIGIT = 3


def _letter_words(alphabet: str, post: np.ndarray, picks: np.ndarray,
                  links: Sequence[bool]) -> np.ndarray:
    """`picks` with each digit of a word of letters replaced by the cell's likeliest letter.
    A word is a run of touching letters and digits (a symbol ends it); a word of letters has
    four characters or more and at least `_LETTERS_PER_DIGIT` letters per digit, not
    counting look-alikes (`TWINS`), whose digit counts for its letter twin. The chosen
    letter's share is its marginal: the field is doubted."""
    letters = np.array([c in LETTERS for c in alphabet])
    chars = [alphabet[j] for j in picks]
    out = picks.copy()
    for run in runs([c.isalnum() for c in chars], links):
        solid = [chars[k] for k in run if chars[k] not in TWINS]
        n_letters = sum(c.isalpha() for c in solid)
        n_digits = len(solid) - n_letters
        if len(run) < 4 or not n_digits or n_letters < _LETTERS_PER_DIGIT * n_digits:
            continue
        for k in run:
            if chars[k].isdigit():
                score = np.where(letters, post[k], -1.0)
                twin = alphabet.find(TWINS[chars[k]]) if chars[k] in TWINS else -1
                if twin >= 0:
                    score[twin] += post[k, picks[k]]  # a stroke counts for I, as folded
                out[k] = int(np.argmax(score))
    return out


def letters_only(dist: CellDist, mask: Sequence[bool] | None = None) -> Decoded:
    """A name of a person or place: letters and ' - . only, never a digit. `dist` counts
    the look-alike digits as their letters already (`decode.field_dist`: a ring is an O, a stroke an
    I). Each word (touching cells of letters, `mask`) is spelt by the cells and the spelling
    model together (`spelling.decode_words`: MELNYH becomes MELNYK). Its confidence is the
    spelling's posterior share, times each cell's chance of holding a letter (or the symbol
    read) with any digit or other symbol only `_NAME_PRIOR` as likely a priori, so a name
    whose cells said 4 where it now says A is doubted. When the cells say such a digit
    beyond `DISAGREE`, or the spelling is that much less likely than the cells' best
    letters, the name goes to review (a conflict) with the cells' own reading beside it
    (`free`): seed 8800's MIRZA had come out MIR3A."""
    free = dist.best()
    hard = _free(_with_prior(dist, NAME_CHARS, 0.0))
    soft = _with_prior(dist, NAME_CHARS, _NAME_PRIOR)
    if not hard.text:
        return replace(hard, confidence=1.0, free=free)
    letters = np.array([c in LETTERS for c in dist.alphabet])
    is_letter = [c in LETTERS for c in hard.text]
    words = runs(is_letter, touching(mask) if mask is not None else [True] * (dist.n - 1))
    picks, log_share = spelling.decode_words(_letter_logp(dist.probs, letters)[0], words)
    chars = list(hard.text)
    for i, j in picks.items():
        chars[i] = LETTERS[j]
    text = "".join(chars)
    mass = [soft.probs[i, letters].sum() if ok else soft.probs[i, soft.alphabet.index(c)]
            for i, (c, ok) in enumerate(zip(text, is_letter))]
    share = math.exp(log_share) * float(np.prod(mass))
    ll = dist.ll(text)
    conflict = ll < dist.ll(free) - DISAGREE or ll < dist.ll(hard.text) - DISAGREE
    hyps = tuple([(text, ll)] + [h for h in hard.hyps if h[0] != text])[:K]
    return Decoded(text, share, free, text != free, conflict, hyps)
