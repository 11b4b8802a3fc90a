"""The form model: integrity, and pages 1-3 exactly as the official geometry says."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from pipeline.errors import FormModelError
from pipeline.form import FieldKind, load_form_model
from pipeline.form.model import Cell, validate


def test_eleven_pages_with_their_fields():
    model = load_form_model()
    assert [p.name for p in model.pages] == [f"m1p{n}" for n in range(1, 9)] + [
        f"m2p{n}" for n in range(1, 4)
    ]
    for page in model.pages:
        assert page.fields, page.name
        for f in page.fields:
            assert f.cells or f.box is not None, f.key


def test_model_validates_and_ids_are_unique():
    model = load_form_model()
    validate(model)
    for form in ("m1", "m2"):
        ids = [f.id for f in model.fields(form)]
        assert len(ids) == len(set(ids))


def test_pages_one_to_three_match_the_official_geometry(shared):
    official = yaml.safe_load((shared / "mod209" / "modulo1-geometry-p1-3.yaml").read_text())
    dc = official["default_cell"]
    model = load_form_model()
    for number, fields in official["pages"].items():
        page = model.page("m1", number)
        assert page.official
        assert {f.id for f in page.fields} == set(map(str, fields))
        for fid, spec in fields.items():
            f = model.field(f"m1.{fid}")
            assert f.kind == FieldKind(spec["kind"]) and f.page == number
            assert f.table == spec.get("table") and f.note == spec.get("note")
            assert f.label == spec["label"]
            if "box" in spec:
                assert (f.box.x, f.box.y, f.box.w, f.box.h) == tuple(spec["box"])
            for run, raw in zip(f.runs, spec.get("runs", []), strict=True):
                w, h, pitch = (raw[3:] if len(raw) == 6 else (dc["width"], dc["height"], dc["pitch"]))
                assert (run.x, run.y, run.count, run.width, run.height, run.pitch) == (
                    raw[0], raw[1], raw[2], w, h, pitch)
            for name, xy in spec.get("options", {}).items():
                cell = dict(f.options)[name]
                assert (cell.x, cell.y) == tuple(xy)


def test_sections_nine_to_twelve_and_modulo2_are_laid_out():
    model = load_form_model()
    # section 12: five identical child blocks of seven fields (137-171)
    kinds = [FieldKind.TEXT, FieldKind.TEXT, FieldKind.CODE, FieldKind.DATE, FieldKind.CODE,
             FieldKind.CODE, FieldKind.TEXT]
    for block in range(5):
        got = [model.field(f"m1.{137 + 7 * block + i}").kind for i in range(7)]
        assert got == kinds
    assert {model.field(f"m1.{n}").page for n in range(137, 172)} == {6, 7, 8}
    assert model.field("m1.128").page == 6  # spouse, section 11
    assert model.field("m2.53").kind is FieldKind.DIGITS  # annual income
    assert model.field("m2.questore_sigla").table == "province"
    second = model.field("m1#2.25")
    assert second.key == "m1.25"


def test_validate_rejects_overlap_and_out_of_page():
    model = load_form_model()
    page = model.page("m1", 1)
    f = page.fields[2]
    moved = dataclasses.replace(f.runs[0], x=page.fields[3].runs[0].x, y=page.fields[3].runs[0].y)
    bad_field = dataclasses.replace(f, runs=(moved,))
    bad_page = dataclasses.replace(page, fields=(bad_field,) + page.fields[3:])
    bad = dataclasses.replace(model, pages=(bad_page,) + model.pages[1:], _by_key={})
    with pytest.raises(FormModelError, match="overlaps"):
        validate(bad)
    off = dataclasses.replace(f, box=Cell(590, 830, 20, 20), runs=())
    bad_page = dataclasses.replace(page, fields=(off,) + page.fields[3:])
    bad = dataclasses.replace(model, pages=(bad_page,) + model.pages[1:], _by_key={})
    with pytest.raises(FormModelError, match="outside page"):
        validate(bad)
