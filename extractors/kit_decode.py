"""Decoding across the fields of one kit: each comune with its province and CAP, each
codice fiscale with the surname, name, birth date and sex of the same form copy, dates in
the order the world puts them (`decode_kit`), and a field checked against another document's
value (`with_document`).

Each field comes decoded on its own (extractors/decode.py) as a `KitField`; a kit-level
value replaces a field's own only within the never-invent margin (`DISAGREE`) of what its
cells say.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from extractors.cell_dist import DISAGREE, PLAUSIBLE, CellDist, Decoded, fold_toward
from extractors.cf_decode import CF_GROUPS, cf_allowed, decode_cf_joint
from extractors.decode import (
    SIGLA_ALIASES,
    _COMUNE_GROUPS,
    _comuni_by_mask,
    cell_mask,
    filled_key,
)
from pipeline.form.model import Field, FieldKind
from pipeline.normalise import edit_distance
from validators.rules import BIRTH_DATES, PERIODS


@dataclass(frozen=True, slots=True)
class KitField:
    """A comb field of a kit as read: its model field, which cells hold ink, the cells'
    distribution and the decoded value (one character per filled cell)."""

    field: Field
    mask: tuple[bool, ...]
    dist: CellDist
    decoded: Decoded


def spell(mask: Sequence[bool], text: str) -> str:
    """Filled-cell characters laid back on the cells, empty cells as spaces."""
    it = iter(text)
    return "".join(next(it) if on else " " for on in mask)



def _list_comuni(com: KitField) -> tuple[list, list[str], list[int], np.ndarray]:
    """The ISTAT comuni whose names lie on a comune field's filled cells, their names as the
    cells hold them, which of them the cells' alphabet can spell, and those ones'
    log-likelihoods under the cells."""
    n = len(com.mask)
    cands = _comuni_by_mask(n).get(filled_key(com.mask), [])
    texts = ["".join(cand.name[:n].split()) for cand in cands]
    cols = [(i, c) for i, t in enumerate(texts) if (c := com.dist.columns(t)) is not None]
    if not cols:
        return cands, texts, [], np.zeros(0)
    idx = np.array([c for _, c in cols])
    return cands, texts, [i for i, _ in cols], \
        com.dist.logp[np.arange(com.dist.n), idx].sum(axis=1)


def _comune_joint(com: KitField, prov: KitField | None, cap: KitField | None,
                  ) -> dict[str, tuple[str, float]]:
    """A comune from the ISTAT list with its province code and one of its CAPs, against
    each field read on its own (less `DISAGREE` per field where they part)."""
    dist = com.dist  # its look-alike digits already folded (`decode.field_dist`)
    cands, texts, ok, scores = _list_comuni(com)
    if not ok:
        return {}
    own = {"comune": dist.best()}
    own_score = dist.ll(own["comune"]) - DISAGREE
    parts: list[tuple[str, KitField, int]] = []
    if prov is not None and prov.dist.n == 2:
        parts.append(("province", prov, 2))
    if cap is not None and cap.dist.n == 5:
        parts.append(("cap", cap, 5))
    choice: dict[str, list[str]] = {}
    for part, kf, _ in parts:
        own[part] = kf.decoded.text
        own_score += kf.dist.ll(kf.decoded.text)
        alt = kf.dist.ll(kf.decoded.text) - DISAGREE
        values = []
        for k, i in enumerate(ok):
            options = (cands[i].sigla,) if part == "province" else cands[i].caps
            lls = [(kf.dist.ll(v), v) for v in options]
            top = max(lls, default=(-math.inf, ""))
            if top[0] >= alt:
                scores[k] += top[0]
                values.append(top[1])
            else:
                scores[k] += alt
                values.append(kf.decoded.text)
        choice[part] = values
    hyps = [(float(scores[k]), {"comune": texts[i], **{p: choice[p][k] for p in choice}})
            for k, i in enumerate(ok)]
    hyps.append((own_score, own))
    all_scores = np.array([h[0] for h in hyps])
    w = np.exp(all_scores - all_scores.max())
    w /= w.sum()
    best = hyps[int(np.argmax(all_scores))][1]
    return {part: (value, float(sum(wi for wi, (_, h) in zip(w, hyps) if h.get(part) == value)))
            for part, value in best.items()}


def _document_texts(kf: KitField, values: Sequence[str]) -> set[str]:
    """The documents' values (`_document_text`) that lie on the field's filled cells."""
    return {t for v in values if (t := _document_text(kf, v)) is not None}


def _document_text(kf: KitField, spelled: str) -> str | None:
    """A document's value (`spelled` as the cells would hold it, empty cells as spaces) as
    the filled cells' text; None when it does not lie on them."""
    n = len(kf.mask)
    if not spelled or cell_mask(spelled, n) != filled_key(kf.mask):
        return None
    return "".join(spelled[:n].split())


#: How much less likely than the cells' reading (nats) a count a rule compares with the
#: field may be and still be offered as a reading of it (`with_document` without `mend`): a
#: total the cells read plainly otherwise is the applicant's. Measured on NIST seeds: the
#: totals misread lay 1.6-3.2 below their reading (anomalies 920, 923: 11 read 88 and 55, 01
#: read 05) and 5.05 (accuracy 9970: a hooked 0 read 6); the planted mismatches 6.7 (anomalies
#: 925: 1 child declared, none listed, had become a reading doubt and was missed) and 7.7-10.3
#: (920, 923: 18 for 16, 27 for 26, 12 for 11, 13 for 12, 1 for 0). Chosen between the two
#: on those seeds: a figure on seeds that did not set it is in docs/benchmarks.md.
COMPARED_GAP = 6.0


def with_document(kf: KitField, *values: str, mend: bool = True,
                  near: bool = False) -> Decoded | None:
    """A field decoded with another document's value (a check-valid passport MRZ's surname,
    given names, number or a date; each of `values` spelled as the cells would hold it, empty
    cells as spaces; of several documents' values, a family's passports, the one the cells
    spell likeliest; a cell's look-alike of the value's character counting for it, `_fit`)
    as a hypothesis as likely a priori as the cells' own reading: taken
    when the cells support it within `DISAGREE` of their best reading, its share against
    that reading (or the field's own confidence where its decoding agrees and is surer).
    Within `PLAUSIBLE` the cells' reading stays, in conflict (to review), with
    the document's value as a hypothesis `PLAUSIBLE` more likely a priori than the cells
    alone say (it leads the field's alternatives for the reviewer and the rules); else None.
    Without `mend`, a value the cells support stays a hypothesis too, never the field's
    value: a count that a rule compares with the same value (declared against counted
    sheets) is the rule's to weigh, not the decoding's to settle (NIST anomalies seed 924: a
    planted total of 11 beside 12 sheets, its second 1 near a 2, mended to 12 and missed);
    and only within `COMPARED_GAP` of the cells' reading, by a classifier's probabilities.
    With `near`, a hand-printed value one character off a value, however clearly written,
    goes to review (`one_off`): a family's surname the same hand wrote twice (NIST seed
    10170: two children's LUNGU read LUNSU beside the applicant's, accepted).
    """
    texts = _document_texts(kf, values)
    if not texts or not (mend or kf.dist.calibrated):
        # a compared total is doubted only by a classifier's probabilities: Tesseract's
        # confidences on machine print are none (typed seed 797: a planted 14 beside 13
        # sheets, the 13 5.6 nats behind, became a reading doubt and was missed)
        return None
    gap, ll, free_ll, text = min((_fit(kf.dist, t) for t in sorted(texts)),
                                 key=lambda fit: (fit[0], -fit[1]))
    if kf.field.kind in (FieldKind.CODE, FieldKind.DATE) and kf.decoded.conflict:
        # the cells' own reading is no value the field can hold (a code not in its table, a
        # date that is no day): the document's is weighed against the likeliest one it can
        # (NIST anomalies seed 910: the citizenship BGD read BSD beside two MRZs' BGD)
        free_ll = max([ll] + [s for t, s in kf.decoded.hyps if t not in (kf.decoded.free, text)])
    if ll < free_ll - (PLAUSIBLE if mend else COMPARED_GAP):
        if near and kf.dist.calibrated and not kf.decoded.conflict \
                and any(one_off(kf.decoded.text, t) for t in texts):
            return replace(kf.decoded, conflict=True)
        return None
    if ll < free_ll - DISAGREE or (not mend and text != kf.decoded.text):
        hyps = tuple(h for h in kf.decoded.hyps if h[0] != text) + ((text, ll + PLAUSIBLE),)
        return replace(kf.decoded, conflict=True, hyps=hyps, document=text)
    share = 1.0 / (1.0 + math.exp(min(free_ll - ll - DISAGREE, 50.0)))
    # the document's value is then the field's only hypothesis: a codice fiscale decoded
    # jointly with it (`decode_kit`, after the reader's first pass of documents) takes it
    # as read
    if text == kf.decoded.text:
        # the cells' decoding and the document agree: as sure as the surer of the two
        return replace(kf.decoded, confidence=max(kf.decoded.confidence, share),
                       hyps=((text, ll),))
    return replace(kf.decoded, text=text, confidence=share, changed=text != kf.decoded.free,
                   conflict=False, hyps=((text, ll),))


def one_off(a: str, b: str) -> bool:
    """Two texts of one length that differ in one character."""
    return len(a) == len(b) and edit_distance(a, b) == 1


def contradicted(kf: KitField, *values: str) -> bool:
    """Whether a hand-printed field's value is none of other documents' values that lie on
    its filled cells (`values` spelled as the cells would hold them), while one does: the
    documents spell the field otherwise, its cells too clearly for `with_document` to mend
    (NIST seed 10140: SAVCHENKO, so spelt by a passport's and a permit's MRZ, read
    QAVCNENK0 by a hand whose S reads Q and accepted as RAVCHENKO; seed 10170: LUNGU read
    LUNSU, in review, and as its children's surnames, accepted)."""
    if not kf.dist.calibrated:
        return False
    texts = _document_texts(kf, values)
    return bool(texts) and kf.decoded.text not in texts


def document_gap(kf: KitField, spelled: str) -> float:
    """How much less likely the cells make a document's value (`spelled` as the cells would
    hold it) than their own best reading, in nats, at most `PLAUSIBLE` (also when the value
    does not lie on the cells): which of a family's documents a form copy's fields spell."""
    text = _document_text(kf, spelled)
    return PLAUSIBLE if text is None else min(_fit(kf.dist, text)[0], PLAUSIBLE)


def _fit(dist: CellDist, text: str) -> tuple[float, float, float, str]:
    """How far `text` (a document's value) lies below the cells' best reading, its
    log-likelihood and the best's, each cell's look-alike of the document's character
    counted for it (`fold_toward`): the classifier cannot tell a written I from a 1 (NIST
    cal writers: 0.75 for 1 against 0.19 for I at the median), a check-valid MRZ can (NIST
    seed 9351: the permit number I50843680 read 150843680, its MRZ's value a mere
    alternative)."""
    folded = fold_toward(dist, text)
    ll, free_ll = folded.ll(text), folded.ll(folded.best())
    return free_ll - ll, ll, free_ll, text


def _set(fields: dict[str, KitField], key: str, text: str, share: float,
         over_conflict: bool = False) -> None:
    """A kit-level decoding's value for one field, within the never-invent margin of the
    cells' own reading. A field that alone was a conflict keeps its reading unless
    `over_conflict` (a comune whose cells said a digit may still be a comune of the list; a
    codice fiscale clearly written with a wrong check character stays as written). Beyond
    the margin, the field keeps its own decoding and the kit-level value is one more
    hypothesis, for the reviewer and the rules, as likely as the kit-level decoding made it
    (`share`) or as its cells do, whichever is more (NIST anomalies seed 914: a codice
    fiscale's month S read Q, no month letter; decoded with the names and date read beside
    it, the code with S had a share of 0.87, yet by its cells alone it lay 7.4 nats behind
    the impossible reading, and the rules never weighed it)."""
    kf = fields[key]
    d = kf.decoded
    ll = kf.dist.ll(text)
    best = kf.dist.best()  # the cells' best reading (a name's look-alike digits as letters)
    keeps_own = d.conflict and (text in (d.free, best) or not over_conflict)
    if keeps_own or ll < kf.dist.ll(best) - DISAGREE:
        if not d.conflict:
            d = replace(d, text=best, changed=best != d.free, conflict=True)
        if text and text != d.text:
            odds = math.log(max(share, 1e-12)) - math.log(max(1.0 - share, 1e-12))
            d = _raised(d, text, max(ll, max(s for _, s in d.hyps) + odds))
        fields[key] = replace(kf, decoded=d)
        return
    fields[key] = replace(kf, decoded=replace(
        kf.decoded, text=text, confidence=share, changed=text != kf.decoded.free,
        conflict=False))


#: Per form, (earlier, later) date fields of one copy that cannot be the other way round:
#: everyone named is born before the application (m1.28: `rules.BIRTH_DATES`) and the
#: applicant before entering Italy (m1.48), who enters before applying; a period is valid from
#: before it is valid until (`rules.PERIODS`).
DATE_ORDER = {"m1": (("34", "48"), ("48", "28"), *PERIODS,
                     *((b.split(".")[1], "28") for b in BIRTH_DATES if b.startswith("m1.")))}


def _day(text: str) -> dt.date | None:
    """A date field's cells (DDMMYYYY) as a day, None when they are not one."""
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return dt.date(int(text[4:]), int(text[2:4]), int(text[:2]))
    except ValueError:
        return None


def _date_order(first: KitField, then: KitField) -> dict[str, tuple[str, float]] | None:
    """Two dates in order: when their readings are the wrong way round, the likeliest pair
    of their hypotheses that is in order, with its share among the pairs in order and the
    readings as they stand (`DISAGREE` less likely a priori, as a conflict is); an empty dict
    when no pair is in order; None when the readings are in order or not both days."""
    a, b = _day(first.decoded.text), _day(then.decoded.text)
    if a is None or b is None or a <= b:
        return None
    pairs = [(sa + sb, ta, tb) for ta, sa in first.decoded.hyps for tb, sb in then.decoded.hyps
             if (da := _day(ta)) is not None and (db := _day(tb)) is not None and da <= db]
    if not pairs:
        return {}
    scores = np.array([p[0] for p in pairs])
    read = first.dist.ll(first.decoded.text) + then.dist.ll(then.decoded.text) - DISAGREE
    top = max(scores.max(), read)
    w = np.exp(scores - top)
    share = float(w.max() / (w.sum() + math.exp(read - top)))
    _, ta, tb = pairs[int(np.argmax(scores))]
    return {"first": (ta, share), "then": (tb, share)}


def _named(com: KitField) -> tuple[str, list, bool]:
    """The comuni a comune field names: those its value is, else those of the list's name
    its cells spell likeliest, within `PLAUSIBLE` of their reading (none beyond); with that
    name, and whether it is not the value."""
    cands, texts, ok, scores = _list_comuni(com)
    named = [c for c, t in zip(cands, texts) if t == com.decoded.text]
    if named or not ok or scores.max() < com.dist.ll(com.dist.best()) - PLAUSIBLE:
        return com.decoded.text, named, False
    text = texts[ok[int(np.argmax(scores))]]
    return text, [c for c, t in zip(cands, texts) if t == text], True


def _beside(fields: Mapping[str, KitField], named: list, pk: str | None,
            zk: str | None) -> list[tuple[str, set[str]]]:
    """The province code and CAP fields written beside a comune field, each with the codes
    the `named` comuni have."""
    siglas = {s for c in named for s in (c.sigla, *SIGLA_ALIASES.get(c.sigla, ()))}
    caps = {z for c in named for z in c.caps}
    return [(k, codes) for k, codes in ((pk, siglas), (zk, caps))
            if k is not None and k in fields]


def _named_beside(fields: dict[str, KitField], ck: str, pk: str | None, zk: str | None) -> None:
    """A comune field still read as no comune of the list takes the list's comune its cells
    spell likeliest, within `PLAUSIBLE` of their reading, when the province code and the CAP
    written beside it, read on their own, are that comune's (one at least, none against):
    the writer meant the comune where the address is, and a person checks it (review, as
    sure as the cells make it). NIST seeds 10110, 10130: MODENA read MCDENA beside MO, a
    hand's P read 4 in NAPOLI beside NA, sent to review as read. A place of no list (a
    frazione) lies beside its own comune's codes, not beside a name a letter off."""
    com = fields[ck]
    text, named, other = _named(com)
    beside = _beside(fields, named, pk, zk)
    if other and beside and all(fields[k].decoded.text in codes for k, codes in beside):
        fields[ck] = _for_review(com, text, com.decoded.confidence)


def _disagree_with_comune(fields: Mapping[str, KitField], ck: str, pk: str | None,
                          zk: str | None) -> list[str]:
    """The comune field and the province or CAP beside it that are not the comune's, when
    the comune is one of the ISTAT list: both to a person, who sees which is wrong (NIST
    seed 9200: BERGAMO's BG read BS with confidence, and accepted). A comune read as no
    comune of the list is weighed as the list's comune its cells spell likeliest, within
    `PLAUSIBLE` (NIST seed 9351: SANTA FLAVIA read SANTA FLAVIN, to review, and its PA
    read PN, Pordenone's, accepted)."""
    _, named, _ = _named(fields[ck])
    wrong = [k for k, codes in _beside(fields, named, pk, zk)
             if fields[k].decoded.text not in codes] if named else []
    return [ck, *wrong] if wrong else []


#: A codice fiscale's positions that the surname, name, birth date and sex spell (`cfm`):
#: where another field vouches for the character.
_VOUCHED = range(11)


def _vouched(kf: KitField, code: str) -> bool:
    """Whether a code the joint decoding chose over a codice fiscale whose cells alone were
    in conflict differs from the cells' reading only where the fields beside it vouch for
    the character (the surname's, name's, date's and sex's positions) or where the reading
    holds no character the code's structure allows there (a digit for the place's letter),
    its check character as read. A hand whose R reads Q (NIST seed 10130: QDNTNL97C44Z138S
    beside RUDENKO TETIANA, the agreeing RDNTNL... at a share of 0.9995) wrote the code the
    fields spell; a check character written wrong (the planted invalid_codice_fiscale) is
    no such difference, nor is a place code changed to make the check hold."""
    read = kf.decoded.free
    if not kf.decoded.conflict or len(read) != 16 or len(code) != 16 or read[15] != code[15]:
        return False
    return all(a == b or i in _VOUCHED or a not in cf_allowed(i)
               for i, (a, b) in enumerate(zip(read, code)))


def _for_review(kf: KitField, text: str, share: float) -> KitField:
    """`kf` with `text`, a value the kit's other fields chose against its cells, for a
    person to check: as sure as the cells make it against their own reading, or as `share`
    if less. The cells' reading stays among the hypotheses (read_as, the alternatives)."""
    d = kf.decoded
    ll = kf.dist.ll(text)
    cells = math.exp(min(ll - kf.dist.ll(kf.dist.best()), 0.0))
    return replace(kf, decoded=_raised(replace(
        d, text=text, confidence=min(share, cells), changed=text != d.free, conflict=False),
        text, ll))


def _name_share(kf: KitField, part: str, text: str, share: float) -> float:
    """A surname or name the codice fiscale's joint decoding reads otherwise than the field
    alone is as sure as the cells make the new spelling against their own: the code holds
    some consonants only (NIST seed 9353: MAHMOUD read MANMOUO, taken as MANMDUO, whose
    consonants give the code's MMD, at 0.94)."""
    if part not in ("surname", "name") or text == kf.decoded.text:
        return share
    return min(share, math.exp(min(kf.dist.ll(text) - kf.dist.ll(kf.decoded.text), 0.0)))


def _hypothesis(fields: dict[str, KitField], key: str, text: str, behind: float) -> None:
    """One more hypothesis for a field, `behind` nats less likely than its best, for the
    reviewer and the rules (`fields.alternatives`)."""
    kf = fields[key]
    d = kf.decoded
    fields[key] = replace(kf, decoded=_raised(d, text, max(s for _, s in d.hyps) - behind))


def _raised(d: Decoded, text: str, score: float) -> Decoded:
    """`d` with `text` among its hypotheses at `score`, or at the score it had if higher."""
    score = max([score] + [s for t, s in d.hyps if t == text])
    return replace(d, hyps=tuple(h for h in d.hyps if h[0] != text) + ((text, score),))


def _doubt(fields: dict[str, KitField], key: str) -> None:
    kf = fields[key]
    fields[key] = replace(kf, decoded=replace(kf.decoded, conflict=True))


def decode_kit(fields: Mapping[str, KitField],
               documented: frozenset[str] = frozenset()) -> dict[str, KitField]:
    """Decoding across the fields of one kit: each comune with its province and CAP, each
    codice fiscale with the surname, name, birth date and sex of the same form copy, the
    dates of `DATE_ORDER` in order.
    Keys are record keys (``m1.31``, ``m1#2.31``, ``m2.31``); fields not given (empty, or
    read from a text layer) are left out of the joint decoding. `documented`: fields another
    document's value fixed (`with_document`): a codice fiscale that disagrees with one of
    them is in doubt, not the field."""
    out = dict(fields)
    prefixes = {k.split(".", 1)[0] for k in out}
    for prefix in sorted(prefixes):
        form = prefix.split("#")[0]
        for c, p, z in _COMUNE_GROUPS.get(form, ()):
            ck, pk, zk = (f"{prefix}.{i}" if i else None for i in (c, p, z))
            if ck not in out:
                continue
            got = _comune_joint(out[ck], out.get(pk) if pk else None, out.get(zk) if zk else None)
            for part, key in (("comune", ck), ("province", pk), ("cap", zk)):
                if part in got and key in out:
                    _set(out, key, *got[part], over_conflict=part == "comune")
            _named_beside(out, ck, pk, zk)
            for key in _disagree_with_comune(out, ck, pk, zk):
                _doubt(out, key)
        for g in CF_GROUPS.get(form, ()):
            keys = {part: f"{prefix}.{fid}" for part, fid in
                    (("cf", g.cf), ("surname", g.surname), ("name", g.name),
                     ("birth", g.birth), ("sex", g.sex)) if fid}
            if any(keys[p] not in out for p in ("cf", "surname", "name", "birth")):
                continue
            sx = out.get(keys.get("sex", ""))
            sur, nam = out[keys["surname"]], out[keys["name"]]
            got, disputed, agreeing = decode_cf_joint(
                out[keys["cf"]].dist, sur.decoded, nam.decoded, out[keys["birth"]].decoded,
                sx.decoded if sx is not None else None,
                [spell(sur.mask, t) for t, _ in sur.decoded.hyps],
                [spell(nam.mask, t) for t, _ in nam.decoded.hyps])
            for part, (text, share) in got.items():
                if part == "cf" and _vouched(out[keys["cf"]], text):
                    out[keys["cf"]] = _for_review(out[keys["cf"]], text, share)
                elif part in keys and keys[part] in out:
                    _set(out, keys[part], text, _name_share(out[keys[part]], part, text, share))
            if agreeing is not None:
                _hypothesis(out, keys["cf"], *agreeing)
            for part in disputed:
                if part in keys and keys[part] in out:
                    # a field a document fixed is not in doubt: the code is (NIST seed
                    # 9352: BMDFTM86R52... read whole and check-valid against the passport's
                    # RAMADAN born in February)
                    _doubt(out, keys["cf" if keys[part] in documented else part])
        for first, then in DATE_ORDER.get(form, ()):
            keys = {"first": f"{prefix}.{first}", "then": f"{prefix}.{then}"}
            if not all(k in out for k in keys.values()):
                continue
            got = _date_order(out[keys["first"]], out[keys["then"]])
            for part, key in keys.items():
                if got is not None and part not in got:
                    _doubt(out, key)  # no reading puts them in order: a person looks
                elif got and got[part][0] != out[key].decoded.text:
                    _set(out, key, *got[part])
    return out
