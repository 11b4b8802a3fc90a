"""Intake through the pipeline's steps (pipeline/process.py): every input kept raw by its hash,
every input or page that cannot be read quarantined in the index with a clear reason and its
error class, and one bad input never stopping the others. No kit is read here (no recogniser):
these are the steps before reading, on real files."""

from __future__ import annotations

import hashlib
import io
import stat
import struct
import zipfile
import zlib
from pathlib import Path

import cv2
import img2pdf
import pikepdf
import pytest
from PIL import Image
from plico_testdata import form_like_page
from sqlalchemy import select

from pipeline import errors
from pipeline.errors import ExitCode
from pipeline.process import (
    account_pages,
    batch_inputs,
    open_runtime,
    plan_batch,
    prepare_pages,
    process_batch,
    quarantine_reasons,
    split_batch,
    submit_batch,
)
from pipeline.settings import Settings
from storage import db
from storage.objects import ObjectDamagedError, raw_key


@pytest.fixture
def rt(tmp_path):
    """A runtime over a local object store and a SQLite index in a fresh data folder."""
    return open_runtime(Settings(data_dir=tmp_path / "data", storage_url=None, database_url=None))


def _good_pdf(path: Path, pages: int = 2) -> Path:
    images = []
    for k in range(pages):
        buf = io.BytesIO()
        Image.fromarray(form_like_page(100 + 10 * k)).save(buf, "PNG", dpi=(100 + 10 * k,) * 2)
        images.append(buf.getvalue())
    path.write_bytes(img2pdf.convert(images))
    return path


def _good_tif(path: Path, pages: int = 3) -> Path:
    page = form_like_page(100)
    frames = [Image.fromarray(cv2.flip(page, k - 1) > 128) for k in range(pages)]
    frames[0].save(path, save_all=True, append_images=frames[1:], compression="group4",
                   dpi=(100, 100))
    return path


def _encrypted(src: Path, dst: Path) -> Path:
    with pikepdf.open(src) as doc:
        doc.save(dst, encryption=pikepdf.Encryption(owner="o", user="secret"))
    return dst


def _png_bomb(path: Path, width: int = 100_000, height: int = 100_000) -> Path:
    """A PNG that claims width x height pixels and holds one row: a decompression bomb."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(b"\x00" * (width + 1))) + chunk(b"IEND", b""))
    return path


def _quarantined(rt, batch_id: str) -> dict[str, list[db.QuarantineItem]]:
    with rt.session() as s:
        rows = s.scalars(select(db.QuarantineItem).where(db.QuarantineItem.batch_id == batch_id)
                         .order_by(db.QuarantineItem.id)).all()
        s.expunge_all()
    found: dict[str, list[db.QuarantineItem]] = {}
    for q in rows:
        found.setdefault(q.original_name, []).append(q)
    return found


def _raw_files(rt) -> list[Path]:
    return sorted(p for p in (rt.settings.data_dir / "objects" / "raw").rglob("*")
                  if p.is_file() and p.suffix != ".json" and not p.name.startswith("."))


def _exit_code(code: str) -> ExitCode:
    error = getattr(errors, code)
    assert issubclass(error, errors.PlicoError)
    return error.exit_code


def test_a_folder_batch_keeps_every_input_raw_and_quarantines_each_bad_one(tmp_path, rt):
    folder = tmp_path / "batch"
    (folder / "sub").mkdir(parents=True)
    good = _good_pdf(folder / "good.pdf")
    _good_tif(folder / "sub" / "scan.tif")
    (folder / "corrupt.pdf").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    _encrypted(good, folder / "locked.pdf")
    (folder / "empty.pdf").write_bytes(b"")
    (folder / "note.pdf").write_text("Cognome: Rossi\nNome: Mario\n", encoding="utf-8")
    with zipfile.ZipFile(folder / "modulo.docx", "w") as z:
        z.writestr("word/document.xml", "<w:document/>")
    _png_bomb(folder / "bomb.png")
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")

    submitted = submit_batch(rt, folder)
    assert submitted.errors == [] and submitted.name == "batch"
    names = ["bomb.png", "corrupt.pdf", "empty.pdf", "good.pdf", "locked.pdf", "modulo.docx",
             "note.pdf", "scan.tif"]  # path order, recursive, hidden files skipped
    assert [r.name for r in submitted.inputs] == names
    assert batch_inputs(rt, submitted.batch_id) == submitted.inputs

    # every input, good or bad, kept byte for byte under raw/<sha[:2]>/<sha>, read-only
    for raw in submitted.inputs:
        src = next(folder.rglob(raw.name))
        assert raw.sha256 == hashlib.sha256(src.read_bytes()).hexdigest()
        kept = rt.settings.data_dir / "objects" / raw_key(raw.sha256)
        assert kept.read_bytes() == src.read_bytes() == rt.store.get(raw_key(raw.sha256))
        assert not kept.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
        assert rt.store.info(raw_key(raw.sha256)).metadata["original_name"] == raw.name
    assert len(_raw_files(rt)) == len(names)

    chunks = plan_batch(rt, submitted.batch_id)
    by_sha = {r.sha256: r.name for r in submitted.inputs}
    assert sorted((by_sha[c.sha256], c.stop - c.start) for c in chunks) == [
        ("good.pdf", 2), ("scan.tif", 3)]  # the good inputs go on
    with rt.session() as s:
        pages = {i.original_name: i.pages for i in s.scalars(
            select(db.Input).where(db.Input.batch_id == submitted.batch_id))}
        assert s.get(db.Batch, submitted.batch_id).pages == 5
    assert pages == {n: {"good.pdf": 2, "scan.tif": 3}.get(n, 0) for n in names}

    entries = _quarantined(rt, submitted.batch_id)
    codes = {name: [(q.code, q.pages) for q in found] for name, found in entries.items()}
    assert codes == {
        "bomb.png": [("InputTooLargeError", None)],
        "corrupt.pdf": [("InputError", None)],
        "empty.pdf": [("UnsupportedInputError", None)],
        "locked.pdf": [("EncryptedInputError", None)],
        "modulo.docx": [("UnsupportedInputError", None)],
        "note.pdf": [("UnsupportedInputError", None)],
    }
    assert _exit_code("InputTooLargeError") == ExitCode.INPUT_TOO_LARGE
    assert _exit_code("EncryptedInputError") == ExitCode.ENCRYPTED_INPUT
    assert _exit_code("InputError") == _exit_code("UnsupportedInputError") == ExitCode.BAD_INPUT
    for name, (q,) in entries.items():
        assert q.reason.startswith(f"{name}: ") and q.sha256 in by_sha
    assert "empty" in entries["empty.pdf"][0].reason
    assert "Rossi" not in entries["note.pdf"][0].reason  # names the file, never quotes it
    # the file named once: the reason begins with it already
    assert quarantine_reasons(rt, submitted.batch_id)[1] == (
        f"{entries['corrupt.pdf'][0].reason} (InputError)")

    # planning again (a redelivered message) adds no quarantine entry and changes no chunk
    assert plan_batch(rt, submitted.batch_id) == chunks
    assert sum(map(len, _quarantined(rt, submitted.batch_id).values())) == 6


def test_a_bad_page_is_quarantined_and_the_rest_of_its_file_goes_on(tmp_path, rt):
    path = tmp_path / "mixed.pdf"
    doc = pikepdf.new()
    for size in [(595, 842), (14_400, 14_400), (595, 842)]:
        doc.add_blank_page(page_size=size)
    doc.save(path)
    batch_id = submit_batch(rt, path).batch_id
    (chunk,) = plan_batch(rt, batch_id)
    assert (chunk.start, chunk.stop) == (0, 3)
    assert prepare_pages(rt, batch_id, chunk) == 2
    (q,) = _quarantined(rt, batch_id)["mixed.pdf"]
    assert (q.code, q.pages) == ("InputTooLargeError", [1]) and "mixed.pdf" in q.reason

    # preparing again (a redelivered chunk) redoes nothing and records nothing new
    assert prepare_pages(rt, batch_id, chunk) == 0
    assert len(_quarantined(rt, batch_id)["mixed.pdf"]) == 1

    # blank pages belong to no kit: quarantined too (one entry for the input's orphans), and
    # then every page is accounted for
    assert split_batch(rt, batch_id) == []
    found = [(q.code, q.pages) for q in _quarantined(rt, batch_id)["mixed.pdf"]]
    assert found == [("InputTooLargeError", [1]), ("OrphanPageError", [0, 2])]
    assert account_pages(rt, batch_id) == []


def test_the_same_bytes_are_stored_once_and_checked_when_read(tmp_path, rt):
    folder = tmp_path / "twice"
    folder.mkdir()
    first = _good_pdf(folder / "a.pdf", pages=1)
    (folder / "copy.pdf").write_bytes(first.read_bytes())
    submitted = submit_batch(rt, folder)
    assert [r.name for r in submitted.inputs] == ["a.pdf"]  # read once in its batch
    again = submit_batch(rt, folder / "copy.pdf")  # a later batch with the same bytes
    assert [r.sha256 for r in again.inputs] == [submitted.inputs[0].sha256]
    assert len(_raw_files(rt)) == 1
    key = raw_key(submitted.inputs[0].sha256)
    assert rt.store.info(key).metadata["original_name"] == "a.pdf"  # the first receipt

    kept = rt.settings.data_dir / "objects" / key
    kept.chmod(0o644)
    kept.write_bytes(b"tampered" + kept.read_bytes())
    with pytest.raises(ObjectDamagedError, match="is damaged"):  # hash-checked before reading
        plan_batch(rt, submitted.batch_id)


def test_a_missing_or_unreadable_input_is_reported_and_the_others_go_on(tmp_path, rt):
    missing = submit_batch(rt, tmp_path / "absent.pdf")
    assert missing.inputs == []
    assert missing.errors == ["absent.pdf: no such input file (InputNotFoundError)"]
    assert _exit_code("InputNotFoundError") == ExitCode.INPUT_NOT_FOUND
    with rt.session() as s:
        assert s.get(db.Batch, missing.batch_id).error == missing.errors[0]

    folder = tmp_path / "batch"
    folder.mkdir()
    _good_pdf(folder / "a.pdf", pages=1)
    (folder / "b.pdf").symlink_to("/proc/self/mem")  # a file whose reading fails (EIO)
    _good_tif(folder / "c.tif", pages=1)
    submitted = submit_batch(rt, folder)
    assert [r.name for r in submitted.inputs] == ["a.pdf", "c.tif"]
    assert submitted.errors == ["b.pdf: cannot be read (Input/output error) (InputError)"]
    assert len(_raw_files(rt)) == 2

    # `plico process` runs one batch per input: the missing one is reported in its summary
    summary, records = process_batch(tmp_path / "absent.pdf", tmp_path / "out", rt.settings,
                                     None, runtime=rt)
    assert records == [] and summary.pages == 0
    assert summary.not_stored == ["absent.pdf: no such input file (InputNotFoundError)"]
    assert summary.quarantined == [] and "1 not stored" in summary.line()
