"""An input file before it is rasterised: its kind from its first bytes (`sniff`), the file
opened with its OS errors turned into Plico's input errors (`open_input`), and
`library_fault`, a decoding library's exception on an input as the InputError it stands
for, naming the file and never quoting its content (see `extractors.raster`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO, Literal

from pipeline.errors import InputError, InputNotFoundError, UnsupportedInputError

Kind = Literal["pdf", "tiff", "png", "jpeg"]
Source = Path | bytes  # a file, or an input's bytes already in memory

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"
# Classic TIFF and BigTIFF, both byte orders
_TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_ZIP_MAGIC = b"PK\x03\x04"
# Acrobat accepts the %PDF- header anywhere in the first 1024 bytes and the %%EOF marker
# anywhere in the last 1024 (PDF Reference 1.7, implementation notes 13 and 18); so do we.
_PDF_SLACK = 1024


def open_input(path: Path, name: str | None = None) -> BinaryIO:
    """An input file opened for reading, its OS errors turned into Plico's input errors."""
    name = name or path.name
    if path.exists() and not path.is_file() and not path.is_dir():
        # a FIFO would block the open until a writer came; a device is not a scan either
        raise UnsupportedInputError(f"{name}: not a regular file (a pipe, socket or device)")
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise InputNotFoundError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise UnsupportedInputError(f"{name}: is a folder, not a file") from None
    except OSError as err:
        raise InputError(f"{name}: cannot be read ({err.strerror})") from None


def _name_of(source: Source, name: str | None) -> str:
    return name or (source.name if isinstance(source, Path) else "input")


def _head(source: Source, name: str) -> bytes:
    if isinstance(source, bytes):
        return source[:_PDF_SLACK]
    with open_input(source, name) as fp:
        try:
            return fp.read(_PDF_SLACK)
        except OSError as err:
            raise InputError(f"{name}: cannot be read ({err.strerror})") from None


def _tail(source: Source) -> bytes:
    if isinstance(source, bytes):
        return source[-_PDF_SLACK:]
    with source.open("rb") as fp:
        fp.seek(0, os.SEEK_END)
        fp.seek(max(0, fp.tell() - _PDF_SLACK))
        return fp.read()


def library_fault(name: str, err: BaseException, page: int | None = None,
                  what: str = "is corrupt or truncated") -> InputError:
    """An exception a decoding library raised on an input, as the InputError it stands for:
    the file (and page) named, the library's error class and message (Pillow's and pdfium's
    describe the structure, never the content)."""
    if isinstance(err, InputError):
        return err
    where = f"{name}: page {page + 1}" if page is not None else name
    return InputError(f"{where} {what} ({_error_text(err)})")


def _error_text(err: BaseException) -> str:
    """`Class: first line of the message`, at most 200 characters of it."""
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0][:200]}" if lines else type(err).__name__


def sniff(path: Source, *, name: str | None = None) -> Kind:
    """The kind of input file `path` is, from its first bytes (the extension is ignored).

    `name` is what messages call the file (default: its file name).
    """
    name = _name_of(path, name)
    head = _head(path, name)
    if not head:
        raise UnsupportedInputError(f"{name}: the file is empty (0 bytes)")
    if head.startswith(_PNG_MAGIC):
        return "png"
    if head.startswith(_JPEG_MAGIC):
        return "jpeg"
    if head[:4] in _TIFF_MAGICS:
        return "tiff"
    if b"%PDF-" in head:
        return "pdf"
    if head.startswith(_ZIP_MAGIC):
        raise UnsupportedInputError(
            f"{name}: a ZIP container (an office document?), not a PDF, TIFF, PNG or JPEG file"
        )
    raise UnsupportedInputError(f"{name}: not a PDF, TIFF, PNG or JPEG file")
