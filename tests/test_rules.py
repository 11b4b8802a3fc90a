"""The validators (validators/rules.py) against the generator's truth, read by a perfect reader
(validators/testing.py), plus the borderline cases and `plico show`."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from pipeline.record import Record
from sample_scans.synth.kit import PLANTABLE, KitPlan, plan_kit
from validators.icao import check_digit
from validators.rules import RULES, validate
from validators.testing import record_from_plan

READER_CODES = {"missing_assicurata", "unreadable_page", "low_confidence_field"}


def _plan(seed: int, i: int, with_anomaly: bool) -> KitPlan:
    return plan_kit(np.random.default_rng([seed, i]), i, "typed", with_anomaly)


def _codes(record: Record) -> set[str]:
    return {a.code for a in validate(record)}


def _find(want, seed: int = 11, limit: int = 400) -> KitPlan:
    """The first planned kit (with an anomaly) for which want(plan) holds."""
    for i in range(limit):
        plan = _plan(seed, i, True)
        if want(plan):
            return plan
    raise AssertionError("no such kit in the search range")


def _clean(want, seed: int = 12, limit: int = 400) -> KitPlan:
    for i in range(limit):
        plan = _plan(seed, i, False)
        if want(plan):
            return plan
    raise AssertionError("no such clean kit in the search range")


@pytest.mark.parametrize("code", [c for c in PLANTABLE])
def test_planted_code_gives_exactly_the_truth(code: str) -> None:
    plan = _find(lambda p: code in p.anomalies)
    expected = set(plan.anomalies) - READER_CODES
    assert _codes(record_from_plan(plan)) == expected, plan.details


def test_many_kits_match_the_truth_and_clean_twins_are_clean() -> None:
    checked = 0
    for i in range(150):
        for with_anomaly in (True, False):
            plan = _plan(5, i, with_anomaly)
            got = _codes(record_from_plan(plan))
            assert got == set(plan.anomalies) - READER_CODES, (i, plan.details)
            if not with_anomaly:
                assert got == set()
            checked += 1
    assert checked > 250


def test_every_rule_has_its_source_in_the_docstring() -> None:
    for rule in RULES:
        assert rule.__doc__ and len(rule.__doc__) > 20, rule.__name__


def test_anomalies_name_fields_pages_and_crops() -> None:
    plan = _find(lambda p: p.anomalies == ["invalid_codice_fiscale"])
    (a,) = validate(record_from_plan(plan))
    assert a.fields == ["m1.31"] and a.pages == [2]  # m1p2 follows the label page
    assert a.evidence["value"] and a.evidence["crops"]["m1.31"].endswith("m1.31.png")
    assert a.category == "dati" and a.message_it and a.message_en


def test_duplex_blank_backs_are_not_sheets() -> None:
    plan = _clean(lambda p: True)
    record = record_from_plan(plan, duplex=True)
    assert sum(p.blank for p in record.kit.pages) == plan.sheet_count + 1  # label page too
    assert record.kit.sheets_counted == plan.sheet_count
    assert validate(record) == []


def test_second_modulo1_for_a_family_member() -> None:
    plan = _clean(lambda p: any(c.prefix == "m1#2" for c in p.forms))
    record = record_from_plan(plan)
    assert validate(record) == []
    # the family member's copy is checked on its own: unsigned, and a page lost
    fields = dict(record.fields)
    fields["m1#2.29"] = fields["m1#2.29"].model_copy(update={"value": False})
    pages = [p for p in record.kit.pages if not (p.owner == "m1#2" and p.kind == "m1p3")]
    broken = record.model_copy(update={"fields": fields, "kit": record.kit.model_copy(
        update={"pages": pages})})
    found = {a.code: a for a in validate(broken)}
    assert found["missing_signature"].fields == ["m1#2.29"]
    assert found["missing_form_pages"].evidence["missing"] == ["m1p3 (m1#2)"]
    # one passport for two applicants is one short
    no_passport = next(i for i, p in enumerate(record.kit.pages) if p.kind == "passport")
    pages = [p for i, p in enumerate(record.kit.pages) if i != no_passport]
    short = record.model_copy(update={"kit": record.kit.model_copy(update={"pages": pages})})
    assert "missing_passport_copy" in _codes(short)


def test_renewal_permit_copy_on_one_sheet_counts_once() -> None:
    plan = _clean(lambda p: p.request == "rinnovo" and len(p.forms) == 1 or
                  p.request == "rinnovo" and p.forms[1].form == "m2")
    record = record_from_plan(plan)
    assert [p.kind for p in record.kit.pages].count("permit") == 1
    assert validate(record) == []
    pages = [p for p in record.kit.pages if p.kind != "permit"]
    without = record.model_copy(update={"kit": record.kit.model_copy(update={"pages": pages})})
    assert "missing_permit_copy" in _codes(without)


def test_passport_valid_on_the_last_day_is_not_expired() -> None:
    plan = _clean(lambda p: True)
    record = record_from_plan(plan)
    fields = dict(record.fields)
    on = fields["m1.28"].value
    fields["m1.45"] = fields["m1.45"].model_copy(update={"value": on})
    assert "expired_document" not in _codes(record.model_copy(update={"fields": fields}))
    day_before = (dt.date.fromisoformat(on) - dt.timedelta(days=1)).isoformat()
    fields["m1.45"] = fields["m1.45"].model_copy(update={"value": day_before})
    assert "expired_document" in _codes(record.model_copy(update={"fields": fields}))


def test_uncertain_reading_makes_an_uncertain_anomaly() -> None:
    plan = _find(lambda p: p.anomalies == ["expired_document"])
    (a,) = validate(record_from_plan(plan, review=["m1.45"]))
    assert a.code == "expired_document" and a.severity == "warning"
    assert a.evidence["uncertain"] is True and a.evidence["uncertain_fields"] == ["m1.45"]
    assert a.message_it.endswith("(lettura incerta)")
    assert a.message_en.endswith("(uncertain reading)")
    (sure,) = validate(record_from_plan(plan))
    assert "uncertain" not in sure.evidence


def test_motivo_dropped_from_the_edition_is_not_postal_not_invalid() -> None:
    plan = _clean(lambda p: p.application_date >= dt.date(2024, 5, 30) and len(p.forms) == 1)
    record = record_from_plan(plan)
    fields = dict(record.fields)
    for value, code in (("22", "not_postal_request_type"), ("99", "invalid_code")):
        fields["m1.16"] = fields["m1.16"].model_copy(update={"value": value})
        got = _codes(record.model_copy(update={"fields": fields}))
        other = {"not_postal_request_type", "invalid_code"} - {code}
        assert code in got and other.isdisjoint(got)


def test_born_in_the_future_is_an_invalid_date() -> None:
    plan = _clean(lambda p: True)
    record = record_from_plan(plan)
    fields = dict(record.fields)
    future = (plan.application_date + dt.timedelta(days=3)).isoformat()
    fields["m1.34"] = fields["m1.34"].model_copy(update={"value": future})
    found = [a for a in validate(record.model_copy(update={"fields": fields}))
             if a.code == "invalid_date"]
    assert [a.fields for a in found] == [["m1.34"]]


def test_visa_ending_before_it_starts_and_future_application() -> None:
    plan = _clean(lambda p: p.request == "rilascio")
    record = record_from_plan(plan)
    fields = dict(record.fields)
    since = fields["m1.56"].value
    fields["m1.57"] = fields["m1.57"].model_copy(update={
        "value": (dt.date.fromisoformat(since) - dt.timedelta(days=1)).isoformat()})
    found = [a for a in validate(record.model_copy(update={"fields": fields}))]
    assert [(a.code, a.fields) for a in found] == [("invalid_date", ["m1.57"])]
    before = plan.application_date - dt.timedelta(days=1)
    (future,) = validate(record, today=before)
    assert future.code == "invalid_date" and future.fields == ["m1.28"]
    assert validate(record, today=plan.application_date) == []


def test_mrz_of_someone_else_is_not_a_mismatch() -> None:
    plan = _clean(lambda p: True)
    other = _clean(lambda p: p.applicant.sex != plan.applicant.sex and p is not plan, seed=13)
    swapped = replace(plan, applicant=other.applicant)
    swapped.forms = [replace(c, owner=other.applicant) if c.prefix == "m1" else c
                     for c in plan.forms]
    record = record_from_plan(swapped)  # the form still says plan's person: no passport agrees
    assert "mrz_mismatch" not in _codes(record)


def test_missing_attachment_is_counted_and_listed() -> None:
    plan = _find(lambda p: p.anomalies == ["missing_required_attachment"])
    (a,) = validate(record_from_plan(plan))
    assert a.evidence["missing_count"] == 1 and "non sono distinguibili" in a.message_it
    assert all(k in a.evidence["required"] for k in plan.details[0]["attachment"].split())
    # an attachment the classifier took for a second, unreadable bollettino still counts
    record = record_from_plan(_clean(lambda p: len(p.forms) == 1 and any(
        s.kind not in ("label", "passport", "permit", "bollettino") and s.kind[:2] not in
        ("m1", "m2") for s in p.sheets)))
    i = next(i for i, p in enumerate(record.kit.pages) if p.kind == "attachment")
    pages = list(record.kit.pages)
    pages[i] = pages[i].model_copy(update={"kind": "bollettino"})
    atts = [a for a in record.attachments if a.pages != [i]]
    atts.append(record.attachments[0].model_copy(update={"kind": "bollettino", "pages": [i],
                                                         "amount_cents": None, "mrz": None}))
    mistaken = record.model_copy(update={"kit": record.kit.model_copy(update={"pages": pages}),
                                         "attachments": atts})
    assert validate(mistaken) == []


def test_ocr_confusions_are_not_mrz_mismatches() -> None:
    plan = _clean(lambda p: len(p.forms) == 1 and "0" in p.applicant.passport_number)
    record = record_from_plan(plan)
    fields = dict(record.fields)
    fields["m1.44"] = fields["m1.44"].model_copy(
        update={"value": plan.applicant.passport_number.replace("0", "O")})
    assert validate(record.model_copy(update={"fields": fields})) == []


def test_plico_show(tmp_path) -> None:
    plan = _find(lambda p: p.anomalies == ["missing_signature"])
    record = record_from_plan(plan)
    record = record.model_copy(update={"anomalies": record.anomalies + validate(record)})
    path = tmp_path / "r.json"
    path.write_text(record.model_dump_json(), encoding="utf-8")
    cmd = [sys.executable, "-m", "pipeline.cli", "show", str(path)]
    it = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    assert f"Codice Assicurata: {plan.assicurata}" in it
    assert "Stato Attuale: Anomalie documentali" in it
    assert "Istanza non firmata" in it
    en = json.loads(subprocess.run(cmd + ["--lang", "en", "--json"], capture_output=True,
                                   text=True, check=True).stdout)
    assert en["stato_attuale"] == "Documentary anomalies"
    assert [a["code"] for a in en["anomalie_documentali"]] == ["missing_signature"]
    assert en["anomalie"] == []

    clean = record_from_plan(_clean(lambda p: True))
    path.write_text(clean.model_dump_json(), encoding="utf-8")
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    assert "Stato Attuale: In Istruttoria" in out and "Nessuna Anomalia Documentale" in out
    missing = subprocess.run(cmd[:-1] + [str(tmp_path / "none.json")], capture_output=True)
    assert missing.returncode == 3


def test_anomaly_score_detail_lists_the_kits_scored_wrong() -> None:
    from collections import Counter

    from validators.report import AnomalyScore, format_anomaly_score

    score = AnomalyScore(kits=3, clean_kits=1, tp=Counter({"missing_modulo2": 1}),
                         fn=Counter({"payment_amount_mismatch": 1}),
                         fp=Counter({"mrz_mismatch": 1}),
                         errors=[(1, [], ["mrz_mismatch"]), (2, ["payment_amount_mismatch"], [])])
    brief = format_anomaly_score(score)
    assert "overall" in brief and "kit 1" not in brief
    detail = format_anomaly_score(score, detail=True).splitlines()
    assert detail[-2:] == ["kit 1: missed -; raised wrongly mrz_mismatch",
                           "kit 2: missed payment_amount_mismatch; raised wrongly -"]


def _with_permit_mrz(record: Record, passport_surname: str) -> Record:
    """`record` with its passport's MRZ surname replaced (a misread letter: MRZ names carry
    no check digit) and a check-valid permit card MRZ of the same person, read right."""
    passport = next(a for a in record.attachments if a.kind == "passport")
    right = passport.mrz["fields"]
    misread = {**passport.mrz, "fields": {**right, "surname": passport_surname}}
    permit = {"format": "TD1", "lines": [], "valid": True,
              "fields": {**right, "document_code": "IR", "issuing_state": "ITA"}}
    attachments = [a.model_copy(update={"mrz": misread}) if a is passport else a
                   for a in record.attachments]
    attachments.append(attachments[0].model_copy(update={"kind": "permit", "mrz": permit}))
    return record.model_copy(update={"attachments": attachments})


def test_passport_name_misread_against_the_permit_is_not_a_mismatch() -> None:
    plan = _clean(lambda p: len(p.applicant.surname) >= 4
                  and any(s.kind == "passport" for s in p.sheets))
    record = record_from_plan(plan)
    surname = plan.applicant.surname
    misread = surname[:1] + ("T" if surname[1] != "T" else "I") + surname[2:]
    assert "mrz_mismatch" not in _codes(_with_permit_mrz(record, misread))
    # a filler read as a letter at the end (HALYNA<< as HALYNAS, seed 792)
    assert "mrz_mismatch" not in _codes(_with_permit_mrz(record, surname + "S"))
    # two letters apart is not a misreading, and without the permit's MRZ nothing says so
    two_off = misread[:2] + ("X" if misread[2] != "X" else "Y") + misread[3:]
    assert "mrz_mismatch" in _codes(_with_permit_mrz(record, two_off))
    passport = next(a for a in record.attachments if a.kind == "passport")
    alone = record.model_copy(update={"attachments": [
        a.model_copy(update={"mrz": {**a.mrz, "fields": {**a.mrz["fields"], "surname": misread}}})
        if a is passport else a for a in record.attachments]})
    assert "mrz_mismatch" in _codes(alone)


def test_passport_name_one_lookalike_letter_off_is_a_reading_doubt() -> None:
    plan = _clean(lambda p: any(s.kind == "passport" for s in p.sheets)
                  and "U" in p.applicant.given_names[1:])
    record = record_from_plan(plan)
    passport = next(a for a in record.attachments if a.kind == "passport")
    given = plan.applicant.given_names
    i = given.index("U", 1)

    def with_given(name: str) -> Record:
        fields = {**passport.mrz["fields"], "given_names": name}
        return record.model_copy(update={"attachments": [
            a.model_copy(update={"mrz": {**a.mrz, "fields": fields}}) if a is passport else a
            for a in record.attachments]})

    got = validate(with_given(given[:i] + "V" + given[i + 1:]))  # XIU read XIV
    assert "mrz_mismatch" not in {a.code for a in got}
    doubt = [a for a in got if a.code == "low_confidence_field"]
    assert len(doubt) == 1 and doubt[0].fields == ["m1.4"]
    assert doubt[0].evidence["reason"] == "mrz_lookalike_letter"
    # a letter no OCR confuses with U is a mismatch
    assert "mrz_mismatch" in _codes(with_given(given[:i] + "A" + given[i + 1:]))
    # a filler read as a letter where the name ends (SHARMIN<< as SHARMINS, NIST seed 912)
    got = validate(with_given(given + "S"))
    assert "mrz_mismatch" not in {a.code for a in got}
    assert [a.fields for a in got if a.code == "low_confidence_field"] == [["m1.4"]]
    # a lone letter after the name: a speck among the fillers (NIST seed 920: IQRA L)
    got = validate(with_given(given + " L"))
    assert "mrz_mismatch" not in {a.code for a in got}
    assert [a.fields for a in got if a.code == "low_confidence_field"] == [["m1.4"]]
    # a letter no OCR reads for a filler, or one inside the name, is a mismatch
    assert "mrz_mismatch" in _codes(with_given(given + "Q"))
    assert "mrz_mismatch" in _codes(with_given(given[:1] + "S" + given[1:]))


def test_passport_number_one_check_blind_character_off_is_a_reading_doubt() -> None:
    plan = _clean(lambda p: any(s.kind == "passport" for s in p.sheets))
    record = record_from_plan(plan)
    passport = next(a for a in record.attachments if a.kind == "passport")
    number = passport.mrz["fields"]["number"].replace("<", "")

    def with_number(n: str) -> Record:
        fields = {**passport.mrz["fields"], "number": n}
        return record.model_copy(update={"attachments": [
            a.model_copy(update={"mrz": {**a.mrz, "fields": fields}}) if a is passport else a
            for a in record.attachments]})

    # S and 8 weigh the same modulo 10: the check digit cannot tell them apart (seed 793)
    blind = {"S": "8", "8": "S", "G": "6", "6": "G", "Z": "5", "5": "Z", "I": "8"}
    i = next(i for i, c in enumerate(number) if c in blind)
    got = validate(with_number(number[:i] + blind[number[i]] + number[i + 1:]))
    assert "mrz_mismatch" not in {a.code for a in got}
    doubt = [a for a in got if a.code == "low_confidence_field"]
    assert len(doubt) == 1 and doubt[0].fields == ["m1.44"]
    assert doubt[0].evidence["reason"] == "mrz_check_blind_character"
    assert doubt[0].evidence["mrz"] == number[:i] + blind[number[i]] + number[i + 1:]
    # a character the check digit would have caught, or two characters off, is a mismatch
    caught = "7" if number[i] != "7" else "3"
    assert "mrz_mismatch" in _codes(with_number(number[:i] + caught + number[i + 1:]))
    j = next(j for j in range(len(number)) if j != i)
    two = number[:i] + blind[number[i]] + number[i + 1:]
    two = two[:j] + ("7" if two[j] != "7" else "3") + two[j + 1:]
    assert "mrz_mismatch" in _codes(with_number(two))
    # two characters whose weights cancel: the check digit holds for both numbers (NIST
    # anomalies seed 919: BR9072972 read BR1O72972 from a deskewed 200 dpi copy)
    digits = [k for k, c in enumerate(number) if c.isdigit()]
    twice = (number[:i] + x + number[i + 1:j] + y + number[j + 1:]
             for i in digits for j in digits if j >= i + 2
             for x in "0123456789" if x != number[i]
             for y in "0123456789" if y != number[j])
    cancel = next(n for n in twice if check_digit(n) == check_digit(number))
    got = validate(with_number(cancel))
    assert "mrz_mismatch" not in {a.code for a in got}
    assert [a.evidence["reason"] for a in got if a.code == "low_confidence_field"] \
        == ["mrz_check_blind_character"]
    # the generator's planted mismatch (two neighbours swapped) is still a mismatch
    k = next(k for k in range(len(number) - 1) if number[k] != number[k + 1])
    swapped = number[:k] + number[k + 1] + number[k] + number[k + 2:]
    assert "mrz_mismatch" in _codes(with_number(swapped))


def test_anomalies_on_writing_the_scan_erased_are_not_false_positives() -> None:
    from pipeline.truth import BatchTruth, KitTruth
    from validators.report import format_anomaly_score, score_anomalies

    plan = _clean(lambda p: True)
    record = record_from_plan(plan)
    unsigned = record.model_copy(update={"fields": {
        **record.fields, "m1.29": record.fields["m1.29"].model_copy(update={"value": False})}})
    unsigned = unsigned.model_copy(update={"anomalies": validate(unsigned)})
    assert "missing_signature" in {a.code for a in unsigned.anomalies}

    def truth(erased: list[str]) -> BatchTruth:
        kit = KitTruth(index=0, assicurata=record.kit.assicurata, codice_istanza="",
                       ologramma="", questura="RM", application_date="2026-01-01",
                       request="rinnovo", document="permesso", motivo="01", filled_by="typed",
                       pages=(0, 0), sheets=1, attachments=[], fields={}, anomalies=[],
                       planted=[], erased_fields=erased)
        return BatchTruth(batch="b", generator="g", seed=0, options={}, files=[], pages=[],
                          kits=[kit])

    scored = score_anomalies(truth([]), [unsigned])
    assert scored.fp["missing_signature"] == 1 and scored.blocking_on_clean == 1
    scored = score_anomalies(truth(["m1.29"]), [unsigned])
    assert scored.fp["missing_signature"] == 0 and scored.blocking_on_clean == 0
    assert scored.erased["missing_signature"] == 1
    assert "raised on writing the scan erased" in format_anomaly_score(scored)


def test_name_the_mrz_and_the_codice_fiscale_both_contradict_is_a_reading_doubt() -> None:
    """BEN AMOR read BEN AWOR (seed 787): the passport's MRZ and the form's codice fiscale
    both say AMOR, so the reading is doubted, not the documents."""
    from validators.codice_fiscale import surname_code

    plan = _clean(lambda p: any(s.kind == "passport" for s in p.sheets)
                  and any(c in "BCDFGHJKLMNPQRSTVZ" for c in p.applicant.surname[:6])
                  and bool(p.truth_fields().get("m1.31")))
    record = record_from_plan(plan)
    surname = plan.applicant.surname
    i = next(k for k, c in enumerate(surname) if c in "BCDFGHJKLMNPQRSTVZ")
    misread = surname[:i] + ("W" if surname[i] != "W" else "X") + surname[i + 1:]
    assert surname_code(misread) != surname_code(surname)
    fields = {**record.fields, "m1.3": record.fields["m1.3"].model_copy(update={"value": misread})}
    got = validate(record.model_copy(update={"fields": fields}))
    codes = {a.code for a in got}
    assert not codes & {"invalid_codice_fiscale", "mrz_mismatch"}
    doubt = [a for a in got if a.code == "low_confidence_field"]
    assert [a.fields for a in doubt] == [["m1.3"]]
    assert doubt[0].evidence["reason"] == "mrz_and_codice_fiscale_disagree"
    # a code that does not spell the MRZ's name either is the codice fiscale's own fault
    wrong_cf = {**fields, "m1.31": record.fields["m1.31"].model_copy(update={"value": "RSSMRA80A01H501U"})}
    assert "invalid_codice_fiscale" in _codes(record.model_copy(update={"fields": wrong_cf}))


def test_a_doubtful_reading_whose_alternative_clears_the_rule_is_a_reading_doubt() -> None:
    plan = _clean(lambda p: True)
    record = record_from_plan(plan)
    born = record.fields["m1.34"].value
    future = (plan.application_date + dt.timedelta(days=3)).isoformat()
    fields = dict(record.fields)

    def with_birth(alternatives) -> list:
        fields["m1.34"] = fields["m1.34"].model_copy(update={
            "value": future, "status": "review", "alternatives": alternatives})
        return validate(record.model_copy(update={"fields": fields}))

    # the year read 2026 where 1996 was nearly as likely: a doubt for a person, not an anomaly
    got = with_birth([(born, 0.3)])
    assert not {"invalid_date", "invalid_codice_fiscale", "mrz_mismatch"} & {a.code for a in got}
    (doubt,) = [a for a in got if a.evidence.get("reason") == "invalid_date"]
    assert doubt.code == "low_confidence_field" and doubt.fields == ["m1.34"]
    assert doubt.evidence["cleared_by"] == {"field": "m1.34", "value": born, "share": 0.3}
    # alternatives that are no better keep the anomaly, saying what was rejected
    other = (plan.application_date + dt.timedelta(days=9)).isoformat()
    (kept,) = [a for a in with_birth([(other, 0.2)]) if a.code == "invalid_date"]
    assert kept.evidence["alternatives_rejected"] == [{"field": "m1.34", "value": other,
                                                       "share": 0.2}]
    # an accepted reading is taken as read: no alternatives weighed
    fields["m1.34"] = fields["m1.34"].model_copy(update={"value": future, "status": "accepted",
                                                         "alternatives": [(born, 0.3)]})
    assert "invalid_date" in _codes(record.model_copy(update={"fields": fields}))


def test_an_anomaly_is_cleared_only_when_none_of_its_fields_stays_at_odds() -> None:
    """NIST anomalies seed 915: a planted passport number swap beside a sex read J (F an
    alternative): putting the sex right leaves the number at odds with the MRZ, so the
    mismatch stands; with the number as the MRZ has it, the sex alone is a reading doubt."""
    plan = _clean(lambda p: any(s.kind == "passport" for s in p.sheets))
    record = record_from_plan(plan)
    number = record.fields["m1.44"].value
    swapped = number[:2] + number[3] + number[2] + number[4:]
    assert swapped != number
    fields = dict(record.fields)
    fields["m1.33"] = fields["m1.33"].model_copy(update={
        "value": "J", "status": "review", "confidence": 0.9,
        "alternatives": [(record.fields["m1.33"].value, 0.005)]})

    def codes(n: str) -> list:
        fields["m1.44"] = fields["m1.44"].model_copy(update={"value": n})
        return validate(record.model_copy(update={"fields": fields}))

    (kept,) = [a for a in codes(swapped) if a.code == "mrz_mismatch"]
    assert set(kept.fields) == {"m1.33", "m1.44"}
    got = codes(number)
    assert "mrz_mismatch" not in {a.code for a in got}
    assert any(a.evidence.get("reason") == "mrz_mismatch" for a in got)


def test_a_passport_with_the_forms_birth_date_and_sex_is_compared_whatever_the_names() -> None:
    """NIST anomalies seed 916: a planted passport number swap, the form's surname misread
    and the MRZ's given names misread by OCR: two agreements only, and the passport was
    taken for someone else's. The birth date and sex as on the form make it this person's;
    a family member's passport (another birth date) is still not compared."""
    plan = _clean(lambda p: any(s.kind == "passport" for s in p.sheets))
    record = record_from_plan(plan)
    number = record.fields["m1.44"].value
    swapped = number[:2] + number[3] + number[2] + number[4:]
    fields = dict(record.fields)
    for key, value in (("m1.3", "QXQXQ"), ("m1.4", "QQQQ"), ("m1.44", swapped)):
        fields[key] = fields[key].model_copy(update={"value": value})
    (got,) = [a for a in validate(record.model_copy(update={"fields": fields}))
              if a.code == "mrz_mismatch"]
    assert "m1.44" in got.fields
    born = dt.date.fromisoformat(record.fields["m1.34"].value) - dt.timedelta(days=400)
    fields["m1.34"] = fields["m1.34"].model_copy(update={"value": born.isoformat()})
    assert "mrz_mismatch" not in _codes(record.model_copy(update={"fields": fields}))


def test_fields_a_faint_page_leaves_unread_raise_no_code_or_date_anomaly() -> None:
    """NIST anomalies seed 917: a light pen's page 2, its strokes broken into specks, read as
    codes LO and Y and dates 011914: the page's unreadable_page lists them as not read, and
    no rule takes the specks' reading as the form's."""
    from pipeline.record import Anomaly

    record = record_from_plan(_clean(lambda p: True))
    fields = dict(record.fields)
    for key, value in (("m1.34", "011914"), ("m1.35", "LO")):
        fields[key] = fields[key].model_copy(update={"value": value, "status": "review"})
    broken = record.model_copy(update={"fields": fields})
    assert {"invalid_date", "invalid_code"} <= _codes(broken)
    faint = Anomaly.make("unreadable_page", pages=[2], reason="faint_writing",
                         fields_not_read=["m1.34", "m1.35"])
    unread = broken.model_copy(update={"anomalies": [faint]})
    assert not {"invalid_date", "invalid_code"} & _codes(unread)


def test_an_unreadable_page_its_footer_names_is_not_a_missing_form_page() -> None:
    record = record_from_plan(_clean(lambda p: len(p.forms) == 1))
    pages = [p.model_copy() for p in record.kit.pages]
    (i,) = [k for k, p in enumerate(pages) if p.kind == "m1p3"]
    pages[i] = pages[i].model_copy(update={"kind": "unknown", "printed_page": "m1p3"})
    kit = record.kit.model_copy(update={"pages": pages})
    assert "missing_form_pages" not in _codes(record.model_copy(update={"kit": kit}))
    pages[i] = pages[i].model_copy(update={"kind": "attachment", "printed_page": None})
    kit = record.kit.model_copy(update={"pages": pages})
    assert "missing_form_pages" in _codes(record.model_copy(update={"kit": kit}))


def test_an_anomaly_two_misread_fields_explain_together_is_a_reading_doubt() -> None:
    """NIST writers, anomalies seed 904: a writer's A read as 4 in the surname (CEL4) and in
    the codice fiscale's month (CLEDNR00466...): neither alternative alone clears the code,
    the two together do. (No passport copy: its MRZ would outvote the misread surname.)"""
    plan = _clean(lambda p: bool(p.truth_fields().get("m1.31")))
    record = record_from_plan(plan)
    record = record.model_copy(update={"attachments": [a for a in record.attachments
                                                       if a.kind != "passport"]})
    cf, surname = record.fields["m1.31"].value, record.fields["m1.3"].value
    broken_cf = cf[:8] + "4" + cf[9:]
    i = next(k for k, c in enumerate(surname) if c in "BCDFGHJKLMNPQRSTVZ")
    misread = surname[:i] + ("W" if surname[i] != "W" else "X") + surname[i + 1:]
    fields = {**record.fields,
              "m1.31": record.fields["m1.31"].model_copy(update={
                  "value": broken_cf, "status": "review", "confidence": 0.7,
                  "alternatives": [(cf, 0.05)]}),
              "m1.3": record.fields["m1.3"].model_copy(update={
                  "value": misread, "status": "review", "confidence": 0.6,
                  "alternatives": [(surname, 0.3)]})}
    got = validate(record.model_copy(update={"fields": fields}))
    assert "invalid_codice_fiscale" not in {a.code for a in got}
    (doubt,) = [a for a in got if a.evidence.get("reason") == "invalid_codice_fiscale"]
    assert doubt.code == "low_confidence_field"
    assert doubt.evidence["cleared_by"] == {"fields": {"m1.31": cf, "m1.3": surname},
                                            "share": round(0.05 * 0.3, 4)}
    assert set(doubt.fields) == {"m1.31", "m1.3"}
    # with no plausible reading of the code, the anomaly stands
    fields["m1.31"] = fields["m1.31"].model_copy(update={"alternatives": [(broken_cf[:-1] + "Q", 0.05)]})
    assert "invalid_codice_fiscale" in _codes(record.model_copy(update={"fields": fields}))


def test_a_passport_copy_whose_mrz_shows_it_expired_is_expired_whatever_the_form_reads() -> None:
    """NIST writers, anomalies seed 904: the form's expiry 2022-05-01 read 2023-05-01 (doubtful),
    and the expired passport went unflagged though its copy's MRZ says so."""
    plan = _find(lambda p: p.anomalies == ["expired_document"])
    record = record_from_plan(plan)
    expired = record.fields["m1.45"].value
    later = (dt.date.fromisoformat(record.fields["m1.28"].value) + dt.timedelta(days=400)).isoformat()
    fields = {**record.fields, "m1.45": record.fields["m1.45"].model_copy(update={"value": later})}
    (a,) = [a for a in validate(record.model_copy(update={"fields": fields}))
            if a.code == "expired_document"]
    assert a.evidence["source"] == "passport_mrz" and a.evidence["value"] == expired
    # without a passport copy the form's reading is all there is
    bare = record.model_copy(update={"fields": fields, "attachments": [
        x for x in record.attachments if x.kind != "passport"]})
    assert "expired_document" not in _codes(bare)


def test_an_application_date_read_as_no_day_is_weighed_at_its_likeliest_day() -> None:
    """NIST writers, anomalies seed 907: the application date 30082025 read 36082025 (no day),
    and an expired passport went unflagged for want of a date to compare with."""
    plan = _find(lambda p: p.anomalies == ["expired_document"])
    record = record_from_plan(plan)
    on = record.fields["m1.28"].value
    raw = on[8:10] + on[5:7] + on[0:4]
    fields = {**record.fields, "m1.28": record.fields["m1.28"].model_copy(update={
        "value": "9" + raw[1:], "status": "review", "alternatives": [(on, 0.003)]})}
    (a,) = [a for a in validate(record.model_copy(update={"fields": fields}))
            if a.code == "expired_document"]
    assert a.evidence["application_date"] == on and a.evidence["uncertain_fields"] == ["m1.28"]
    fields["m1.28"] = fields["m1.28"].model_copy(update={"alternatives": []})
    assert "expired_document" not in _codes(record.model_copy(update={"fields": fields}))


def test_a_code_with_an_unread_cell_is_left_to_its_reading_doubt() -> None:
    """Typed seed 797: the Questura's sigla FI read F? (a cell the recogniser read nothing in)
    raised a blocking invalid_code on a clean kit."""
    plan = _clean(lambda p: True)
    record = record_from_plan(plan)
    fields = dict(record.fields)
    fields["m1.5"] = fields["m1.5"].model_copy(update={"value": "F?", "status": "review",
                                                       "confidence": 0.0})
    assert "invalid_code" not in _codes(record.model_copy(update={"fields": fields}))
    fields["m1.5"] = fields["m1.5"].model_copy(update={"value": "FX"})
    assert "invalid_code" in _codes(record.model_copy(update={"fields": fields}))
