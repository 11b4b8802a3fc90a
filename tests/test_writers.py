"""Batch file writers: real PDFs and TIFFs, opened with the readers the pipeline uses."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pdfplumber
import pypdfium2 as pdfium
import pytest
from PIL import Image

from plico_testdata import form_like_page
from sample_scans.synth.scanner import ScanProfile, a4_shape, blank_back, scan
from sample_scans.synth.writers import ScannedPage, write_pdf, write_tiff


def _form_page(dpi: int) -> np.ndarray:
    return form_like_page(dpi)


def _batch(dpi: int = 200) -> list[ScannedPage]:
    """A duplex batch: grey front + blank back, a sideways grey page, a bitonal page, and a
    bitonal page fed upside down."""
    page = _form_page(dpi)
    grey, bitonal = ScanProfile.for_batch(dpi, "grey"), ScanProfile.for_batch(dpi, "bitonal")
    rng = np.random.default_rng(2024)
    front = ScannedPage(*scan(page, rng, grey, force_rotation=0))
    back = ScannedPage(*blank_back(front.image, rng, grey))
    sideways = ScannedPage(*scan(page, rng, grey, force_rotation=90))
    b1 = ScannedPage(*scan(page, rng, bitonal, force_rotation=0))
    b2 = ScannedPage(*scan(page, rng, bitonal, force_rotation=180))
    return [front, back, sideways, b1, b2]


@pytest.fixture(scope="module")
def batch() -> list[ScannedPage]:
    return _batch()


def _a4_points(page: ScannedPage) -> tuple[float, float]:
    return (842.0, 595.0) if page.meta.rotation in (90, 270) else (595.0, 842.0)


def test_pdf_opens_with_pypdfium2_and_pdfplumber(batch, tmp_path):
    path = tmp_path / "batch.pdf"
    write_pdf(batch, path)

    pdf = pdfium.PdfDocument(path)
    try:
        assert len(pdf) == len(batch)
        for i, page in enumerate(batch):
            w, h = pdf[i].get_size()
            assert (w, h) == pytest.approx(_a4_points(page), abs=1)
            if page.meta.mode == "bitonal":
                # Group 4 renders black ink on white paper, not inverted
                shown = pdf[i].render(scale=0.25, grayscale=True).to_numpy()
                assert shown.mean() > 200
    finally:
        pdf.close()

    with pdfplumber.open(path) as doc:
        assert len(doc.pages) == len(batch)
        for pl, page in zip(doc.pages, batch, strict=True):
            assert (float(pl.width), float(pl.height)) == pytest.approx(_a4_points(page), abs=1)
            (img,) = pl.images
            h, w = page.image.shape
            assert img["srcsize"] == (w, h)
            assert (img["x1"] - img["x0"], img["bottom"] - img["top"]) == pytest.approx(
                (pl.width, pl.height), abs=0.01
            )
            filters = [name for name, _ in img["stream"].get_filters()]
            if page.meta.mode == "bitonal":
                assert [f.name for f in filters] == ["CCITTFaxDecode"]
                assert img["bits"] == 1
            else:
                assert [f.name for f in filters] == ["DCTDecode"]
                jpeg = cv2.imdecode(
                    np.frombuffer(img["stream"].get_rawdata(), np.uint8), cv2.IMREAD_GRAYSCALE
                )
                # the scanner already paid for JPEG: re-encoding changes almost nothing
                diff = np.abs(jpeg.astype(np.int16) - page.image).mean()
                assert diff < 1.0


def test_pdf_bytes_are_identical_across_runs(tmp_path):
    a, b = tmp_path / "a.pdf", tmp_path / "b.pdf"
    write_pdf(_batch(), a)
    write_pdf(_batch(), b)
    data = a.read_bytes()
    assert data == b.read_bytes()
    assert b"CreationDate" not in data and b"ModDate" not in data


def test_tiff_has_one_frame_per_page_with_its_dpi_and_encoding(batch, tmp_path):
    path = tmp_path / "batch.tif"
    write_tiff(batch, path)
    with Image.open(path) as tif:
        assert tif.n_frames == len(batch)
        for i, page in enumerate(batch):
            tif.seek(i)
            assert tif.info["dpi"] == pytest.approx((page.meta.dpi, page.meta.dpi))
            h, w = page.image.shape
            assert tif.size == (w, h)
            pixels = np.asarray(tif.convert("L"))
            if page.meta.mode == "bitonal":
                assert tif.info["compression"] == "group4"
                assert np.array_equal(pixels, page.image)  # Group 4 is lossless
            else:
                assert tif.info["compression"] == "jpeg"
                assert np.abs(pixels.astype(np.int16) - page.image).mean() < 1.0


def test_tiff_bytes_are_identical_across_runs(tmp_path):
    a, b = tmp_path / "a.tif", tmp_path / "b.tif"
    write_tiff(_batch(), a)
    write_tiff(_batch(), b)
    assert a.read_bytes() == b.read_bytes()


def _per_page_sizes(pages: list[ScannedPage], tmp: Path) -> list[int]:
    sizes = []
    for i, page in enumerate(pages):
        path = tmp / f"p{i}.pdf"
        write_pdf([page], path)
        sizes.append(path.stat().st_size)
    return sizes


def test_files_stay_as_small_as_a_scanner_makes_them(tmp_path):
    page = _form_page(300)
    grey, bitonal = ScanProfile.for_batch(300, "grey"), ScanProfile.for_batch(300, "bitonal")
    pages = [ScannedPage(*scan(page, np.random.default_rng(s), grey)) for s in range(3)]
    pages.append(ScannedPage(*blank_back(pages[0].image, np.random.default_rng(9), grey)))
    pages.append(ScannedPage(*scan(page, np.random.default_rng(0), bitonal)))
    sizes = _per_page_sizes(pages, tmp_path)
    assert all(s < 450_000 for s in sizes[:4])
    assert sizes[4] < 120_000
    # a TIFF of the same pages is of the same order as the PDF
    write_tiff(pages, tmp_path / "all.tif")
    assert (tmp_path / "all.tif").stat().st_size < 1.3 * sum(sizes)


def test_a_clean_grey_page_is_written_too(tmp_path):
    page = _form_page(200)
    scanned = ScannedPage(*scan(page, np.random.default_rng(0), ScanProfile.clean(200)))
    assert scanned.meta.jpeg_quality is None
    write_pdf([scanned], tmp_path / "clean.pdf")
    write_tiff([scanned], tmp_path / "clean.tif")
    with Image.open(tmp_path / "clean.tif") as tif:
        assert np.abs(np.asarray(tif).astype(np.int16) - page).mean() < 2.0


def test_bad_input_is_refused(batch, tmp_path):
    with pytest.raises(ValueError):
        write_pdf([], tmp_path / "empty.pdf")
    with pytest.raises(ValueError):
        write_tiff([], tmp_path / "empty.tif")
    with pytest.raises(ValueError):
        ScannedPage(np.zeros((10, 10, 3), np.uint8), batch[0].meta)

