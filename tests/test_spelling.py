"""The spelling model of names (extractors/spelling.py) on its own and inside a name field."""

from __future__ import annotations

import numpy as np

from extractors import decode as D
from extractors import spelling
from extractors.recognise import LETTERS, TEXT
from pipeline.form import load_form_model
from tests.test_decode import dist

MODEL = load_form_model()


def codes(*names: str) -> np.ndarray:
    width = max(map(len, names))
    return np.array([list(n.ljust(width, "\0").encode("ascii")) for n in names], np.uint8)


def test_counts_stay_inside_each_word():
    counts = spelling.ngram_counts(codes("AB CD"))
    a, b, c, d = (LETTERS.index(x) + 1 for x in "ABCD")
    assert counts[0, 0, 0, a] == 1 and counts[0, 0, a, b] == 1 and counts[0, a, b, 0] == 1
    # the second word starts afresh: C follows a boundary, not "AB "
    assert counts[0, 0, 0, c] == 1 and counts[a, b, 0, c] == 0 and counts[0, c, d, 0] == 1
    assert counts.sum() == 6  # A, B, end, C, D, end


def test_each_context_is_a_distribution_over_the_next_letter():
    lp = spelling.model()
    assert lp.shape == (27, 27, 27, 27)
    p = np.exp(lp.astype(np.float64)).sum(axis=-1)
    assert np.allclose(p, 1.0, atol=1e-4)
    q, u, x = (LETTERS.index(c) + 1 for c in "QUX")
    assert lp[0, 0, q, u] > lp[0, 0, q, x] + 3  # Q is followed by U in the world's names


def letter_rows(text: str, doubt: dict[int, tuple[str, float]], p: float = 0.97) -> np.ndarray:
    rows = np.full((len(text), 26), (1 - p) / 25)
    for i, c in enumerate(text):
        if i in doubt:
            alt, q = doubt[i]
            rows[i] = (1 - p - q) / 24
            rows[i, LETTERS.index(alt)] = q
        rows[i, LETTERS.index(c)] = p
    return np.log(rows)


def test_a_misread_letter_that_spells_no_name_is_mended_a_clear_one_stays():
    # the cells lean to H (0.55) over K (0.40) at the end of MELNYK
    picks, share = spelling.decode_words(letter_rows("MELNYH", {5: ("K", 0.40)}, 0.55),
                                         [range(6)])
    assert "".join(LETTERS[picks[i]] for i in range(6)) == "MELNYK" and share < 0
    # written clearly, an unusual spelling is kept: the cells outweigh the model
    picks, _ = spelling.decode_words(letter_rows("XHOSZ", {}, 0.99), [range(5)])
    assert "".join(LETTERS[picks[i]] for i in range(5)) == "XHOSZ"
    # words are spelt apart: two words of one field
    picks, _ = spelling.decode_words(letter_rows("ELFASSI", {1: ("I", 0.3)}, 0.6), [range(2), range(2, 7)])
    assert "".join(LETTERS[picks[i]] for i in range(7)) == "ELFASSI"


def test_a_name_field_is_spelt_and_a_far_fetched_spelling_is_doubted():
    f = MODEL.field("m1.3")  # Cognome
    got = D.decode_field(f, dist("MELNYH", TEXT, 0.6, {5: ("K", 0.35)}))
    assert (got.text, got.free, got.changed, got.conflict) == ("MELNYK", "MELNYH", True, False)
    # the reading stays among the hypotheses for the reviewer and the rules
    assert "MELNYH" in {t for t, _ in got.hyps}
    # a spelling the cells give less than 1/20 of their reading: taken, but to review
    far = D.decode_field(f, dist("GHCRBI", TEXT, 0.97, {2: ("A", 0.012)}))
    assert (far.text, far.free, far.conflict) == ("GHARBI", "GHCRBI", True)
    # sure cells of a spelling the model finds odd are read as written
    odd = D.decode_field(f, dist("MELNYH", TEXT, 0.97, {5: ("K", 0.012)}))
    assert (odd.text, odd.conflict) == ("MELNYH", False)


def test_bench_names_reads_real_hand_print_both_ways(shared):
    from extractors.spelling_bench import run
    from sample_scans.synth import nist

    assert nist.available(), f"{nist.npz_path()} is missing from shared/handprint"
    report = run(seed=5, n=8, writers="nist-cal")
    rows = {line[:24].strip(): line[24:].split() for line in report.splitlines()[2:-1]}
    assert int(rows["street"][0]) == 8 and int(rows["all"][0]) >= 12
    for row in rows.values():
        assert all(0.0 <= float(v.rstrip("%")) <= 100.0 for v in row[1:])
    assert float(rows["all"][2].rstrip("%")) >= float(rows["all"][1].rstrip("%"))
    assert report.splitlines()[-1].startswith("decoding: ")
