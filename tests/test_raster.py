"""Rasterise: real PDFs, TIFFs, PNGs and JPEGs made here with img2pdf, Pillow, reportlab and
pikepdf (img2pdf's own dependency), and every kind of bad input the intake meets."""

from __future__ import annotations

import inspect
import io
import struct
import zipfile
import zlib
from pathlib import Path

import cv2
import img2pdf
import numpy as np
import pikepdf
import pytest
from PIL import Image, TiffImagePlugin
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from extractors.input_file import sniff
from extractors.page_image import PageFailure, PageImage
from extractors.raster import rasterise, read_pages
from pipeline.errors import (
    EncryptedInputError,
    ExitCode,
    InputError,
    InputNotFoundError,
    InputTooLargeError,
    UnsupportedInputError,
)
from pipeline.settings import Settings
from sample_scans.synth.scanner import ScanMeta, a4_shape
from sample_scans.synth.writers import ScannedPage, write_pdf, write_tiff

SETTINGS = Settings()


def _page(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A document-like grey page: paper tone, boxes, lines and text, a little noise."""
    h, w = shape
    rng = np.random.default_rng(seed)
    page = np.full((h, w), 235, dtype=np.uint8)
    s = w / 600
    for k in range(10):
        y = int((60 + k * 50) * s)
        cv2.putText(page, f"CAMPO {seed}.{k}", (int(40 * s), y), cv2.FONT_HERSHEY_SIMPLEX,
                    0.4 * s, 20, max(1, int(s)))
        cv2.rectangle(page, (int(200 * s), y - int(15 * s)), (int(500 * s), y + int(5 * s)),
                      40, max(1, int(s / 2)))
    noise = rng.normal(0, 4, (h, w))
    return np.clip(page + noise, 0, 255).astype(np.uint8)


def _encoded(image: np.ndarray, fmt: str, dpi: int | None, **opts) -> bytes:
    buf = io.BytesIO()
    if dpi is not None:
        opts["dpi"] = (dpi, dpi)
    Image.fromarray(image).save(buf, format=fmt, **opts)
    return buf.getvalue()


def _pdf(path: Path, images: list[bytes]) -> Path:
    path.write_bytes(img2pdf.convert(images, engine=img2pdf.Engine.internal))
    return path


def _pages(path: Path, settings: Settings = SETTINGS) -> list[PageImage]:
    return list(rasterise(path, settings=settings))


def _raises(path: Path, error: type[InputError], code: ExitCode,
            settings: Settings = SETTINGS) -> InputError:
    with pytest.raises(InputError) as caught:
        _pages(path, settings)
    assert type(caught.value) is error, caught.value
    assert caught.value.exit_code == code
    assert path.name in str(caught.value)  # the message names the file
    return caught.value


# --- good input --------------------------------------------------------------------------


@pytest.mark.parametrize("dpi", [200, 300])
def test_grey_pdf_pages_at_native_dpi_pixel_exact(tmp_path, dpi):
    """Portrait, landscape, portrait: each page at its scan's dpi, pixels unchanged."""
    portrait, landscape = a4_shape(dpi), a4_shape(dpi)[::-1]
    images = [_page(portrait, 1), _page(landscape, 2), _page(portrait, 3)]
    # PNG pages are embedded losslessly (Flate): what comes out must be what went in
    path = _pdf(tmp_path / "batch.pdf", [_encoded(im, "PNG", dpi) for im in images])
    pages = _pages(path)
    assert [p.index for p in pages] == [0, 1, 2]
    for page, image in zip(pages, images, strict=True):
        assert page.image.shape == image.shape  # landscape stays landscape
        assert page.dpi == dpi and not page.dpi_assumed
        assert page.colour == "grey"
        assert page.source == "batch.pdf" and len(page.source_sha256) == 64
        assert page.text_words == ()
        assert np.array_equal(page.image, image)
        assert page.image.dtype == np.uint8 and not page.image.flags.writeable


def test_rasterise_is_a_generator(tmp_path):
    path = _pdf(tmp_path / "one.pdf", [_encoded(_page((350, 250)), "JPEG", 30)])
    pages = rasterise(path, settings=SETTINGS)
    assert inspect.isgenerator(pages)
    pages.close()


def test_jpeg_pdf_like_a_scanner_writes_it(tmp_path):
    image = _page(a4_shape(300), 4)
    path = _pdf(tmp_path / "scan.pdf", [_encoded(image, "JPEG", 300, quality=85)])
    (page,) = _pages(path)
    assert page.image.shape == image.shape and page.dpi == 300 and page.colour == "grey"
    decoded = np.asarray(Image.open(io.BytesIO(_encoded(image, "JPEG", 300, quality=85))))
    assert np.abs(page.image.astype(int) - decoded).max() <= 1  # the JPEG itself, not resampled


def test_page_size_in_whole_points_still_gives_the_scan_size(tmp_path):
    """595 x 842 pt (not 595.2 x 841.92) around a 300-dpi A4 scan: 2480 x 3508 pixels, 300 dpi."""
    image = _page((3508, 2480), 5)
    layout = img2pdf.get_layout_fun((595, 842), fit=img2pdf.FitMode.exact)
    path = tmp_path / "rounded.pdf"
    path.write_bytes(img2pdf.convert(_encoded(image, "PNG", 300), layout_fun=layout))
    (page,) = _pages(path)
    assert page.image.shape == (3508, 2480) and page.dpi == 300 and not page.dpi_assumed


def test_turned_scan_pages_keep_native_dpi(tmp_path):
    """A scan turned by /Rotate, and one drawn turned by its matrix: still 1:1 at 100 dpi."""
    image = _page((700, 500), 13)
    rotated = _pdf(tmp_path / "rotate.pdf", [_encoded(image, "PNG", 100)])
    with pikepdf.open(rotated, allow_overwriting_input=True) as doc:
        doc.pages[0].Rotate = 90
        doc.save(rotated)
    (page,) = _pages(rotated)
    assert page.dpi == 100 and np.array_equal(page.image, np.rot90(image, -1))

    path = tmp_path / "matrix.pdf"
    doc = pikepdf.new()
    sheet = doc.add_blank_page(page_size=(504, 360))  # 700 x 500 px at 100 dpi, sideways
    raw = pikepdf.Stream(doc, image.tobytes())
    raw.Type, raw.Subtype, raw.ColorSpace = (
        pikepdf.Name.XObject, pikepdf.Name.Image, pikepdf.Name.DeviceGray)
    raw.Width, raw.Height, raw.BitsPerComponent = 500, 700, 8
    sheet.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=raw))
    sheet.Contents = doc.make_stream(b"q 0 -360 504 0 0 360 cm /Im0 Do Q")
    doc.save(path)
    (page,) = _pages(path)
    assert page.dpi == 100 and np.array_equal(page.image, np.rot90(image, 3))


def test_scanner_batch_pdf_and_tiff_read_the_same(tmp_path):
    """The sample_scans writers (JPEG and Group 4, as a scanner): PDF and TIFF agree exactly."""
    dpi = 200
    meta = {m: ScanMeta(0, 0.0, 1.0, (0.0, 0.0), dpi, m) for m in ("grey", "bitonal")}
    bitonal = np.where(_page(a4_shape(dpi), 8) > 128, 255, 0).astype(np.uint8)
    pages = [
        ScannedPage(_page(a4_shape(dpi), 6), meta["grey"]),
        ScannedPage(_page(a4_shape(dpi)[::-1], 7), meta["grey"]),
        ScannedPage(bitonal, meta["bitonal"]),
    ]
    write_pdf(pages, tmp_path / "batch.pdf")
    write_tiff(pages, tmp_path / "batch.tif")
    from_pdf, from_tiff = _pages(tmp_path / "batch.pdf"), _pages(tmp_path / "batch.tif")
    assert [p.colour for p in from_pdf] == ["grey", "grey", "bitonal"]
    assert [p.colour for p in from_tiff] == ["grey", "grey", "bitonal"]
    for a, b, src in zip(from_pdf, from_tiff, pages, strict=True):
        assert a.dpi == b.dpi == dpi and not a.dpi_assumed and not b.dpi_assumed
        assert a.image.shape == b.image.shape == src.image.shape
        assert np.abs(a.image.astype(int) - b.image).max() <= 1
    assert np.array_equal(from_pdf[2].image, bitonal)
    assert set(np.unique(from_tiff[2].image)) == {0, 255}


def test_bitonal_g4_pdf(tmp_path):
    bits = _page(a4_shape(300), 9) > 128
    g4 = _encoded(bits, "TIFF", 300, compression="group4")
    (page,) = _pages(_pdf(tmp_path / "g4.pdf", [g4]))
    assert page.colour == "bitonal" and page.dpi == 300
    assert np.array_equal(page.image, np.where(bits, 255, 0))


def test_multipage_bitonal_tiff(tmp_path):
    frames = [_page(a4_shape(200), k) > 128 for k in range(3)]
    path = tmp_path / "g4.tif"
    Image.fromarray(frames[0]).save(
        path, save_all=True, append_images=[Image.fromarray(f) for f in frames[1:]],
        compression="group4", dpi=(200, 200),
    )
    pages = _pages(path)
    assert len(pages) == 3
    for page, bits in zip(pages, frames, strict=True):
        assert page.colour == "bitonal" and page.dpi == 200 and not page.dpi_assumed
        assert np.array_equal(page.image, np.where(bits, 255, 0))


def test_colour_jpeg(tmp_path):
    rgb = np.stack([_page((1100, 850), 10), _page((1100, 850), 11), _page((1100, 850), 12)], 2)
    path = tmp_path / "photo.jpg"
    path.write_bytes(_encoded(rgb, "JPEG", 100, quality=90))
    (page,) = _pages(path)
    assert page.colour == "colour" and page.dpi == 100 and not page.dpi_assumed
    expected = np.asarray(Image.open(path).convert("L"))
    assert np.array_equal(page.image, expected)


def test_jpeg_without_resolution_assumes_300(tmp_path):
    path = tmp_path / "nodpi.jpg"
    path.write_bytes(_encoded(_page((700, 500)), "JPEG", None))
    (page,) = _pages(path)
    assert page.dpi == 300 and page.dpi_assumed and page.colour == "grey"


def test_16_bit_png_is_scaled_not_clipped(tmp_path):
    ramp = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (64, 1))
    path = tmp_path / "deep.png"
    Image.fromarray(ramp).save(path, dpi=(300, 300))
    assert Image.open(path).mode.startswith("I")
    (page,) = _pages(path)
    assert page.colour == "grey" and page.dpi == 300 and page.image.shape == (64, 256)
    expected = np.round(ramp.astype(float) * 255 / 65535).astype(np.uint8)
    assert np.abs(page.image.astype(int) - expected).max() <= 1
    assert page.image.min() == 0 and page.image.max() == 255


def test_palette_and_transparent_png(tmp_path):
    rgb = np.zeros((40, 60, 3), np.uint8)
    rgb[:, :30] = (200, 30, 30)
    path = tmp_path / "palette.png"
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE).save(path)
    (page,) = _pages(path)
    assert page.colour == "colour" and page.dpi_assumed
    la = Image.new("LA", (10, 10), (0, 0))  # black, fully transparent: white paper shows
    la.save(tmp_path / "alpha.png")
    (page,) = _pages(tmp_path / "alpha.png")
    assert page.colour == "grey" and page.image.min() == 255


def test_anisotropic_tiff_gets_square_pixels(tmp_path):
    image = _page((300, 400))
    path = tmp_path / "fax.tif"
    Image.fromarray(image).save(path, dpi=(200, 100))
    (page,) = _pages(path)
    assert page.dpi == 200 and page.image.shape == (600, 400)


def test_sniffing_ignores_the_extension(tmp_path):
    path = tmp_path / "really-a-png.pdf"
    path.write_bytes(_encoded(_page((50, 40)), "PNG", 150))
    assert sniff(path) == "png"
    (page,) = _pages(path)
    assert page.dpi == 150


def _text_pdf(path: Path, rotate: int = 0) -> Path:
    pdf = canvas.Canvas(str(path), pagesize=A4)
    pdf.setFont("Helvetica", 20)
    pdf.drawString(72, 760, "COGNOME ROSSI")
    pdf.setFont("Helvetica", 10)
    pdf.drawString(300, 100, "Patronato INCA")
    pdf.setFillColorRGB(0.9, 0.1, 0.1)
    pdf.rect(400, 400, 40, 40, fill=1)
    pdf.showPage()
    pdf.save()
    if rotate:
        with pikepdf.open(path, allow_overwriting_input=True) as doc:
            doc.pages[0].Rotate = rotate
            doc.save(path)
    return path


@pytest.mark.parametrize("rotate", [0, 90])
def test_text_layer_words_in_pixel_coordinates(tmp_path, rotate):
    (page,) = _pages(_text_pdf(tmp_path / "printout.pdf", rotate))
    assert page.dpi == 300 and not page.dpi_assumed and page.colour == "colour"
    assert page.image.shape == ((2480, 3508) if rotate else (3508, 2480))
    assert [w.text for w in page.text_words] == ["COGNOME", "ROSSI", "Patronato", "INCA"]
    ink = page.image < 128
    for word in page.text_words:
        # the word's ink lies inside its box, and the box is not much bigger than the ink;
        # look a little past the box along the line (less than a space) and well past it
        # across the line
        along, across = 6, 30
        my, mx = (along, across) if rotate else (across, along)
        y0, x0 = max(0, word.y - my), max(0, word.x - mx)
        near = ink[y0 : word.y + word.h + my, x0 : word.x + word.w + mx]
        ys, xs = np.nonzero(near)
        assert xs.min() + x0 >= word.x - 2 and xs.max() + x0 <= word.x + word.w + 2
        assert ys.min() + y0 >= word.y - 2 and ys.max() + y0 <= word.y + word.h + 2
        ink_area = (xs.max() - xs.min() + 1) * (ys.max() - ys.min() + 1)
        assert word.w * word.h < 3 * ink_area
    cognome = page.text_words[0]
    if rotate:  # turned clockwise: the first line runs down the right-hand side
        assert cognome.x > page.width - 400 and cognome.h > cognome.w
    else:  # 72 pt = 300 px from the left, baseline 760 pt from the bottom
        assert abs(cognome.x - 300) < 10 and cognome.w > cognome.h
        assert 0 < cognome.y < (842 - 760) * 300 / 72


def test_owner_password_only_pdf_is_read(tmp_path):
    plain = _pdf(tmp_path / "plain.pdf", [_encoded(_page((700, 500)), "PNG", 100)])
    path = tmp_path / "restricted.pdf"
    with pikepdf.open(plain) as doc:
        doc.save(path, encryption=pikepdf.Encryption(
            owner="owner", user="", allow=pikepdf.Permissions(extract=False, modify_other=False)))
    (page,) = _pages(path)
    (original,) = _pages(plain)
    assert np.array_equal(page.image, original.image)


# --- bad input ---------------------------------------------------------------------------


def test_missing_file(tmp_path):
    err = _raises(tmp_path / "absent.pdf", InputNotFoundError, ExitCode.INPUT_NOT_FOUND)
    assert "no such file" in str(err)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.pdf"
    path.write_bytes(b"")
    assert "empty" in str(_raises(path, UnsupportedInputError, ExitCode.BAD_INPUT))


def test_office_document(tmp_path):
    path = tmp_path / "modulo.docx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("word/document.xml", "<w:document/>")
    _raises(path, UnsupportedInputError, ExitCode.BAD_INPUT)


def test_text_file_renamed_pdf(tmp_path):
    path = tmp_path / "note.pdf"
    path.write_text("Cognome: Rossi\nNome: Mario\n", encoding="utf-8")
    err = _raises(path, UnsupportedInputError, ExitCode.BAD_INPUT)
    assert "Rossi" not in str(err)  # names the file, never quotes it


def test_folder_is_not_a_file(tmp_path):
    _raises(tmp_path, UnsupportedInputError, ExitCode.BAD_INPUT)


@pytest.fixture
def good_pdf(tmp_path) -> Path:
    return _pdf(tmp_path / "good.pdf", [_encoded(_page((700, 500), k), "JPEG", 100)
                                        for k in range(2)])


@pytest.mark.parametrize("keep", [0.5, 0.98])
def test_truncated_pdf(tmp_path, good_pdf, keep):
    data = good_pdf.read_bytes()
    path = tmp_path / "cut.pdf"
    path.write_bytes(data[: int(len(data) * keep)])
    _raises(path, InputError, ExitCode.BAD_INPUT)


def test_corrupt_pdf(tmp_path):
    path = tmp_path / "garbage.pdf"
    path.write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n")
    _raises(path, InputError, ExitCode.BAD_INPUT)


def test_pdf_without_pages(tmp_path):
    path = tmp_path / "nopages.pdf"
    pikepdf.new().save(path)
    assert "no pages" in str(_raises(path, InputError, ExitCode.BAD_INPUT))


def test_password_protected_pdf(tmp_path, good_pdf):
    path = tmp_path / "locked.pdf"
    with pikepdf.open(good_pdf) as doc:
        doc.save(path, encryption=pikepdf.Encryption(owner="o", user="secret"))
    _raises(path, EncryptedInputError, ExitCode.ENCRYPTED_INPUT)


@pytest.mark.parametrize("fmt,suffix", [("TIFF", "tif"), ("PNG", "png"), ("JPEG", "jpg")])
def test_truncated_images(tmp_path, fmt, suffix):
    data = _encoded(_page((600, 400)), fmt, 200)
    path = tmp_path / f"cut.{suffix}"
    path.write_bytes(data[: len(data) // 2])
    _raises(path, InputError, ExitCode.BAD_INPUT)


def test_corrupt_tiff_header(tmp_path):
    path = tmp_path / "bad.tif"
    path.write_bytes(b"II*\x00" + b"\xff" * 200)
    _raises(path, InputError, ExitCode.BAD_INPUT)


def test_too_many_pages(tmp_path, good_pdf):
    few = Settings(max_pages_per_input=1)
    err = _raises(good_pdf, InputTooLargeError, ExitCode.INPUT_TOO_LARGE, few)
    assert "2 pages" in str(err)
    path = tmp_path / "three.tif"
    frames = [Image.fromarray(_page((60, 40), k)) for k in range(3)]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    _raises(path, InputTooLargeError, ExitCode.INPUT_TOO_LARGE, Settings(max_pages_per_input=2))


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width x height (8-bit grey) and holds one row of data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (width + 1))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat)
            + chunk(b"IEND", b""))


@pytest.fixture
def no_decoding(monkeypatch):
    """Fail the test if any image data is decoded or any page bitmap allocated."""
    import pypdfium2 as pdfium
    from PIL import ImageFile

    def refuse(*args, **kwargs):
        raise AssertionError("decoded before the size check")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)
    monkeypatch.setattr(pdfium.PdfBitmap, "new_native", refuse)


@pytest.mark.parametrize("width,height", [(100_000, 100_000), (1_200, 1_000)])
def test_png_bomb_rejected_before_decoding(tmp_path, no_decoding, width, height):
    """Far beyond the limit (Pillow's own guard) and just beyond it (ours, and the warning)."""
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header_only(width, height))
    _raises(path, InputTooLargeError, ExitCode.INPUT_TOO_LARGE,
            Settings(max_image_pixels=1_000_000))


def test_tiff_bomb_in_a_later_frame(tmp_path):
    """Pillow checks the first frame only; every frame is checked before it is decoded."""
    path = tmp_path / "later.tif"
    with path.open("w+b") as fp, TiffImagePlugin.AppendingTiffWriter(fp) as tf:
        for shape in [(100, 80), (1_000, 1_100), (100, 80)]:
            Image.fromarray(np.full(shape, 200, np.uint8)).save(tf, format="TIFF")
            tf.newFrame()
    limit = Settings(max_image_pixels=1_000_000)
    items = list(read_pages(path, settings=limit))
    assert [type(i) for i in items] == [PageImage, PageFailure, PageImage]
    assert type(items[1].error) is InputTooLargeError
    assert Image.MAX_IMAGE_PIXELS != limit.max_image_pixels  # Pillow's own setting is back


def test_pdf_huge_page_rejected_before_rendering(tmp_path, no_decoding):
    path = tmp_path / "huge-page.pdf"
    doc = pikepdf.new()
    doc.add_blank_page(page_size=(14_400, 14_400))  # 200 x 200 in: 60000 x 60000 px at 300 dpi
    doc.save(path)
    _raises(path, InputTooLargeError, ExitCode.INPUT_TOO_LARGE)


def test_pdf_image_bomb_rejected_before_decoding(tmp_path, no_decoding):
    """A 100000 x 100000 image (a few bytes of Flate) drawn on an ordinary A4 page."""
    path = tmp_path / "image-bomb.pdf"
    doc = pikepdf.new()
    page = doc.add_blank_page(page_size=(595, 842))
    bomb = pikepdf.Stream(doc, zlib.compress(b"\x00" * 1000))
    bomb.Type, bomb.Subtype = pikepdf.Name.XObject, pikepdf.Name.Image
    bomb.Width, bomb.Height, bomb.BitsPerComponent = 100_000, 100_000, 8
    bomb.ColorSpace, bomb.Filter = pikepdf.Name.DeviceGray, pikepdf.Name.FlateDecode
    page.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=bomb))
    page.Contents = doc.make_stream(b"q 595 0 0 842 0 0 cm /Im0 Do Q")
    doc.save(path)
    _raises(path, InputTooLargeError, ExitCode.INPUT_TOO_LARGE)


def test_one_bad_page_among_good_ones(tmp_path):
    """read_pages reports the oversized page in its place; rasterise raises at it."""
    path = tmp_path / "mixed.pdf"
    doc = pikepdf.new()
    for size in [(595, 842), (14_400, 14_400), (842, 595)]:
        doc.add_blank_page(page_size=size)
    doc.save(path)
    items = list(read_pages(path, settings=SETTINGS))
    assert [type(i) for i in items] == [PageImage, PageFailure, PageImage]
    assert items[1].pages == (1,) and isinstance(items[1].error, InputTooLargeError)
    assert items[2].index == 2 and items[2].image.shape == (2479, 3508)  # 595 pt at 300 dpi
    pages = rasterise(path, settings=SETTINGS)
    assert next(pages).index == 0
    with pytest.raises(InputTooLargeError):
        next(pages)


def test_corrupt_tiff_frame_among_good_ones(tmp_path):
    """A multi-page TIFF whose second frame's strip points past the end of the file."""
    path = tmp_path / "frames.tif"
    with path.open("w+b") as fp, TiffImagePlugin.AppendingTiffWriter(fp) as tf:
        for k in range(3):
            Image.fromarray(_page((80, 60), k)).save(tf, format="TIFF")
            tf.newFrame()
    with Image.open(path) as im:
        im.seek(1)
        offset_tag = im.tag_v2.get(273)  # StripOffsets of frame 2
    data = bytearray(path.read_bytes())
    old = struct.pack("<I", offset_tag[0] if isinstance(offset_tag, tuple) else offset_tag)
    at = data.rfind(old, 0, len(data))
    assert at > 0
    data[at : at + 4] = struct.pack("<I", len(data) + 10_000)
    path.write_bytes(bytes(data))
    items = list(read_pages(path, settings=SETTINGS))
    assert [type(i) for i in items] == [PageImage, PageFailure, PageImage]
    assert type(items[1].error) is InputError and items[1].pages == (1,)
