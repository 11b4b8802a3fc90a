"""Ingest: the raw store, the quarantine, and a batch of good and bad real files."""

from __future__ import annotations

import io
import json
import stat
from pathlib import Path

import img2pdf
import numpy as np
import pikepdf
import pytest
from PIL import Image

from pipeline.errors import ExitCode, InputError, InputNotFoundError
from pipeline.ingest import (
    DuplicateInputEvent,
    InputErrorEvent,
    LocalRawStore,
    PageEvent,
    Quarantine,
    QuarantineEvent,
    RawObject,
    expand_inputs,
    ingest,
    sha256_file,
)
from pipeline.settings import Settings


def _image(shape: tuple[int, int], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    page = np.full(shape, 230, np.uint8)
    page[10:20, 10:-10] = rng.integers(0, 60, (10, shape[1] - 20))
    return page


def _good_pdf(path: Path, pages: int = 2, seed: int = 0) -> Path:
    jpegs = []
    for k in range(pages):
        buf = io.BytesIO()
        Image.fromarray(_image((700, 500), seed + k)).save(buf, "JPEG", dpi=(100, 100))
        jpegs.append(buf.getvalue())
    path.write_bytes(img2pdf.convert(jpegs, engine=img2pdf.Engine.internal))
    return path


def _good_tif(path: Path, pages: int = 3) -> Path:
    frames = [Image.fromarray(_image((400, 300), 10 + k) > 128) for k in range(pages)]
    frames[0].save(path, save_all=True, append_images=frames[1:], compression="group4",
                   dpi=(200, 200))
    return path


def _corrupt_pdf(path: Path) -> Path:
    data = _good_pdf(path.with_suffix(".tmp")).read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


def _raw_files(settings: Settings) -> list[Path]:
    raw = settings.data_dir / "objects" / "raw"
    return sorted(p for p in raw.rglob("*") if p.is_file() and p.suffix != ".json"
                  and not p.name.startswith("."))


def test_good_corrupt_good(tmp_path, settings):
    inputs = tmp_path / "in"
    inputs.mkdir()
    good_pdf, good_tif = _good_pdf(inputs / "good.pdf"), _good_tif(inputs / "good.tif")
    corrupt = _corrupt_pdf(inputs / "corrupt.pdf")
    events = list(ingest([good_pdf, corrupt, good_tif], settings))

    pages = [e for e in events if isinstance(e, PageEvent)]
    assert [(e.page.source, e.page.index) for e in pages] == [
        ("good.pdf", 0), ("good.pdf", 1), ("good.tif", 0), ("good.tif", 1), ("good.tif", 2)]
    assert all(e.raw.sha256 == e.page.source_sha256 for e in pages)
    assert pages[0].raw.sha256 == sha256_file(good_pdf)
    assert [e.page.colour for e in pages] == ["grey"] * 2 + ["bitonal"] * 3

    (bad,) = [e for e in events if isinstance(e, QuarantineEvent)]
    assert events.index(bad) == 2  # in input order: after good.pdf's pages, before good.tif's
    assert bad.code == "InputError" and bad.exit_code == ExitCode.BAD_INPUT
    assert bad.pages is None and "corrupt.pdf" in bad.reason
    assert bad.raw.original_name == "corrupt.pdf"

    # the raw corrupt file is kept, byte-identical, and the quarantine says why
    store = LocalRawStore(settings.data_dir / "objects")
    assert store.get(bad.raw.sha256).read_bytes() == corrupt.read_bytes()
    (entry,) = Quarantine(settings.data_dir).list()
    assert (entry.sha256, entry.original_name, entry.code, entry.pages) == (
        bad.raw.sha256, "corrupt.pdf", "InputError", None)
    assert bad.record == settings.data_dir / "quarantine" / f"{bad.raw.sha256}.json"
    assert len(_raw_files(settings)) == 3  # every input is kept, good or bad


def test_same_file_twice_is_stored_once(tmp_path, settings):
    first = _good_pdf(tmp_path / "a.pdf")
    copy = tmp_path / "copy-of-a.pdf"
    copy.write_bytes(first.read_bytes())
    store = LocalRawStore(settings.data_dir / "objects")
    one, two = store.put(first), store.put(copy)
    assert one == two and one.original_name == "a.pdf"  # the first receipt is the record
    assert len(_raw_files(settings)) == 1

    events = list(ingest([first, copy], settings))
    assert [type(e) for e in events] == [PageEvent, PageEvent, DuplicateInputEvent]
    assert events[2].path == copy and events[2].raw.sha256 == one.sha256
    assert len(_raw_files(settings)) == 1


def test_raw_object_is_read_only_with_its_sidecar(tmp_path, settings):
    src = _good_tif(tmp_path / "scan.tif")
    store = LocalRawStore(settings.data_dir / "objects")
    raw = store.put(src)
    assert isinstance(raw, RawObject) and raw.size == src.stat().st_size
    path = store.get(raw.sha256)
    assert path == settings.data_dir / "objects" / "raw" / raw.sha256[:2] / raw.sha256
    assert not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    sidecar = json.loads(path.with_name(f"{raw.sha256}.json").read_text())
    assert sidecar["original_name"] == "scan.tif" and sidecar["size"] == raw.size
    assert sidecar["received"] == raw.received and store.info(raw.sha256) == raw
    assert src.read_bytes() == path.read_bytes()
    assert not list((settings.data_dir / "objects" / "raw").glob(".incoming-*"))


def test_get_checks_the_hash(tmp_path, settings):
    store = LocalRawStore(settings.data_dir / "objects")
    raw = store.put(_good_pdf(tmp_path / "a.pdf"))
    path = store.get(raw.sha256)
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(InputError) as caught:
        store.get(raw.sha256)
    assert type(caught.value) is InputError and "damaged" in str(caught.value)
    with pytest.raises(InputNotFoundError):
        store.get("0" * 64)
    with pytest.raises(ValueError):
        store.get("../../etc/passwd")


def test_missing_input_is_reported_and_the_others_go_on(tmp_path, settings):
    good = _good_pdf(tmp_path / "good.pdf", pages=1)
    events = list(ingest([tmp_path / "absent.pdf", good], settings))
    assert [type(e) for e in events] == [InputErrorEvent, PageEvent]
    assert events[0].code == "InputNotFoundError"
    assert events[0].exit_code == ExitCode.INPUT_NOT_FOUND
    assert events[0].path == tmp_path / "absent.pdf"
    assert Quarantine(settings.data_dir).list() == []  # nothing to keep


def test_folder_expands_to_its_files_sorted(tmp_path, settings):
    folder = tmp_path / "batch"
    (folder / "sub").mkdir(parents=True)
    _good_pdf(folder / "b.pdf", pages=1, seed=1)
    _good_pdf(folder / "a.pdf", pages=1, seed=2)
    _good_tif(folder / "sub" / "c.tif", pages=1)
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    assert [p.name for p in expand_inputs([folder])] == ["a.pdf", "b.pdf", "c.tif"]
    events = list(ingest([folder], settings))
    assert [e.page.source for e in events] == ["a.pdf", "b.pdf", "c.tif"]


def test_bad_pages_are_quarantined_and_the_file_goes_on(tmp_path, settings):
    path = tmp_path / "mixed.pdf"
    doc = pikepdf.new()
    for size in [(595, 842), (14_400, 14_400), (595, 842)]:
        doc.add_blank_page(page_size=size)
    doc.save(path)
    events = list(ingest([path], settings))
    assert [type(e) for e in events] == [PageEvent, QuarantineEvent, PageEvent]
    assert events[1].pages == (1,) and events[1].code == "InputTooLargeError"
    assert events[1].exit_code == ExitCode.INPUT_TOO_LARGE
    (entry,) = Quarantine(settings.data_dir).list()
    assert entry.pages == (1,)


def test_encrypted_input_is_quarantined_with_its_code(tmp_path, settings):
    locked = tmp_path / "locked.pdf"
    with pikepdf.open(_good_pdf(tmp_path / "open.pdf")) as doc:
        doc.save(locked, encryption=pikepdf.Encryption(owner="o", user="u"))
    (event,) = list(ingest([locked], settings))
    assert isinstance(event, QuarantineEvent)
    assert event.code == "EncryptedInputError" and event.exit_code == ExitCode.ENCRYPTED_INPUT
    # ingesting it again records nothing new
    list(ingest([locked], settings))
    assert len(Quarantine(settings.data_dir).list()) == 1


def test_quarantine_add_and_list(tmp_path, settings):
    store = LocalRawStore(settings.data_dir / "objects")
    raw = store.put(_good_pdf(tmp_path / "a.pdf"))
    quarantine = Quarantine(settings.data_dir)
    path = quarantine.add(raw, "a.pdf: page 2 is corrupt", "InputError", [1])
    assert quarantine.add(raw, "a.pdf: page 2 is corrupt", "InputError", [1]) == path
    quarantine.add(raw, "a.pdf: page 3 is too large", "InputTooLargeError", [2])
    entries = quarantine.list()
    assert [(e.code, e.exit_code, e.pages) for e in entries] == [
        ("InputError", 4, (1,)), ("InputTooLargeError", 6, (2,))]
    record = json.loads(path.read_text())
    assert record["original_name"] == "a.pdf" and len(record["entries"]) == 2
    with pytest.raises(ValueError):
        quarantine.add(raw, "why", "KeyError")
