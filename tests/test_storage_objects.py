"""The object store contract on both backends: the local folder and a real S3 server."""

from __future__ import annotations

import hashlib
import threading
import uuid

import pytest

from pipeline.settings import Settings
from storage.objects import (
    ObjectConflictError,
    ObjectDamagedError,
    ObjectNotFoundError,
    StorageConfigError,
    StorageUnavailableError,
    raw_key,
)
from storage.objects_local import LocalObjectStore
from storage.objects_s3 import S3ObjectStore
from storage.store_url import open_store, store_from_url


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        store = LocalObjectStore(tmp_path / "objects")
    else:
        server = request.getfixturevalue("s3_server")
        store = store_from_url(server.url(f"t-{uuid.uuid4().hex[:12]}"), tmp_path)
    store.ensure_bucket()
    return store


def _tamper(store, key: str) -> None:
    """Change an object's bytes behind the store's back (keeping its recorded hash)."""
    if isinstance(store, LocalObjectStore):
        path = store.path_of(key)
        path.chmod(0o644)
        path.write_bytes(b"tampered" + path.read_bytes())
        return
    import io

    info = store.info(key)
    data = b"tampered"
    store._client.put_object(store.bucket, key, io.BytesIO(data), len(data),
                             metadata={"sha256": info.sha256})


def test_put_get_list_and_hash_check(store, tmp_path):
    data = b"\x89PNG page bytes " * 100
    sha = store.put("pages/ab/0.png", data, "image/png")
    assert sha == hashlib.sha256(data).hexdigest()
    assert store.get("pages/ab/0.png") == data and store.exists("pages/ab/0.png")
    info = store.info("pages/ab/0.png")
    assert (info.size, info.sha256, info.content_type) == (len(data), sha, "image/png")
    store.put("pages/ab/0.png", b"rewritten")  # derived objects may be replaced
    assert store.get("pages/ab/0.png") == b"rewritten"

    src = tmp_path / "in.pdf"
    src.write_bytes(b"%PDF-1.7 raw" * 1000)
    key = raw_key(hashlib.sha256(src.read_bytes()).hexdigest())
    store.put_file(key, src, "application/pdf", {"original_name": "busta né.pdf"})
    assert store.info(key).metadata["original_name"] == "busta né.pdf"
    assert store.get_file(key, tmp_path / "out" / "copy.pdf").read_bytes() == src.read_bytes()
    store.put("records/b-0001/0.1.0.json", b"{}", "application/json")
    crop = "crops/b-0001/0.1.0+dev/m1#2.cognome.png"  # the characters of real crop keys
    store.put(crop, b"crop")
    assert store.get(crop) == b"crop"
    assert list(store.list("raw/")) == [key]
    assert list(store.list("")) == sorted(
        [key, crop, "pages/ab/0.png", "records/b-0001/0.1.0.json"])
    assert list(store.list("pa")) == ["pages/ab/0.png"]

    _tamper(store, "pages/ab/0.png")
    with pytest.raises(ObjectDamagedError, match="damaged"):
        store.get("pages/ab/0.png")
    with pytest.raises(ObjectDamagedError):
        store.get_file("pages/ab/0.png", tmp_path / "damaged.png")
    assert not (tmp_path / "damaged.png").exists()  # a damaged download never appears

    with pytest.raises(ObjectNotFoundError):
        store.get("pages/none/0.png")
    assert not store.exists("pages/none/0.png")
    for bad in ("../etc/passwd", "/abs", "raw//x", "raw/.hidden", ""):
        with pytest.raises(ValueError):
            store.put(bad, b"x")


def test_local_store_is_private_to_its_owner(tmp_path):
    """Folders 0700 (parents included), objects and their metadata 0400: personal data."""
    root = tmp_path / "data" / "objects"
    store = LocalObjectStore(root)
    store.ensure_bucket()
    store.put("pages/ab/0.png", b"page", content_type="image/png")
    store.put(raw_key("a" * 64), b"raw", content_type="application/pdf")
    store.put("records/k1/v1.json", b"{}", content_type="application/json")
    folders = [root.parent, root, *(p for p in root.rglob("*") if p.is_dir())]
    files = [p for p in root.rglob("*") if p.is_file()]
    assert len(files) == 6
    assert {str(p.relative_to(tmp_path)): p.stat().st_mode & 0o777 for p in folders} \
        == {str(p.relative_to(tmp_path)): 0o700 for p in folders}
    assert {p.name: p.stat().st_mode & 0o777 for p in files} == {p.name: 0o400 for p in files}


def test_raw_keys_are_write_once_and_never_deleted(store):
    data = b"scanned batch"
    key = raw_key(hashlib.sha256(data).hexdigest())
    store.put(key, data, metadata={"original_name": "first.pdf"})
    assert store.put(key, data, metadata={"original_name": "second.pdf"}) == \
        hashlib.sha256(data).hexdigest()
    assert store.info(key).metadata["original_name"] == "first.pdf"  # the first receipt stays
    with pytest.raises(ObjectConflictError, match="write-once"):
        store.put(key, b"other bytes")
    with pytest.raises(ObjectConflictError):
        store.delete(key)
    assert store.get(key) == data
    store.put("crops/k/v/f.png", b"crop")
    store.delete("crops/k/v/f.png")
    assert not store.exists("crops/k/v/f.png")


def test_wrong_credentials_and_missing_bucket_are_clear_errors(s3_server, tmp_path):
    bad = store_from_url(s3_server.url("plico-bad", secret="not-the-secret"), tmp_path)
    with pytest.raises(StorageConfigError, match="refused the credentials"):
        bad.ensure_bucket()
    unknown = store_from_url(s3_server.url("plico-bad", access="nobody"), tmp_path)
    with pytest.raises(StorageConfigError, match="refused the credentials"):
        unknown.put("pages/x/0.png", b"x")
    missing = store_from_url(s3_server.url(f"absent-{uuid.uuid4().hex[:8]}"), tmp_path)
    with pytest.raises(StorageConfigError, match="does not exist"):
        missing.put("pages/x/0.png", b"x")  # no implicit bucket creation


def test_s3_restart_is_retried_and_a_long_outage_fails_clearly(s3_server, tmp_path):
    store = store_from_url(s3_server.url("plico-restart"), tmp_path)
    assert isinstance(store, S3ObjectStore) and store.retries == 8
    store.ensure_bucket()
    store.put("pages/r/0.png", b"before the restart")
    impatient = store_from_url(s3_server.url("plico-restart", retries="2", backoff="0.05"),
                               tmp_path)
    s3_server.stop()
    try:
        with pytest.raises(StorageUnavailableError, match="after 3 attempts"):
            impatient.get("pages/r/0.png")
        restart = threading.Thread(target=s3_server.start)
        restart.start()
        assert store.get("pages/r/0.png") == b"before the restart"  # waits for the restart
        store.put("pages/r/1.png", b"after the restart")
        restart.join()
    finally:
        if s3_server.process.poll() is not None:
            s3_server.start()
    assert list(store.list("pages/r/")) == ["pages/r/0.png", "pages/r/1.png"]


def test_storage_url_formats(tmp_path):
    assert open_store(Settings(data_dir=tmp_path)).root == tmp_path / "objects"
    assert store_from_url(f"file://{tmp_path}/elsewhere", tmp_path).root == tmp_path / "elsewhere"
    s3 = store_from_url("s3://AK:s%2Fcret@minio:9000/plico?secure=false&retries=3", tmp_path)
    assert (s3.endpoint, s3.bucket, s3.retries) == ("minio:9000", "plico", 3)
    for bad in ("ftp://x/y", "s3://minio:9000/plico", "s3://a:b@minio:9000/",
                "s3://a:b@minio/plico?colour=blue", "s3://a:b@minio/plico?secure=maybe",
                "s3://a:b@minio/Plico_Scans"):
        with pytest.raises(StorageConfigError):
            store_from_url(bad, tmp_path)


def test_submitted_raw_inputs_are_kept_in_s3(s3_server, tmp_path):
    """The pipeline's intake (submit_batch, plan_batch) over S3: raw inputs byte-identical
    under raw/<sha[:2]>/<sha>, a bad one quarantined, a tampered one refused on reading."""
    import img2pdf
    import numpy as np
    from PIL import Image

    from pipeline.process import open_runtime, plan_batch, quarantine_reasons, submit_batch

    folder = tmp_path / "batch"
    folder.mkdir()
    pages = []
    for k in range(2):
        path = tmp_path / f"p{k}.png"
        Image.fromarray(np.full((300, 200), 200 + k, np.uint8)).save(path, dpi=(100, 100))
        pages.append(str(path))
    good = folder / "good.pdf"
    good.write_bytes(img2pdf.convert(pages))
    corrupt = folder / "corrupt.pdf"
    corrupt.write_bytes(good.read_bytes()[:200])

    settings = Settings(data_dir=tmp_path / "data", storage_url=s3_server.url("plico-intake"),
                        database_url=None)
    rt = open_runtime(settings)
    assert isinstance(rt.store, S3ObjectStore)
    rt.store.ensure_bucket()
    submitted = submit_batch(rt, folder)
    assert [r.name for r in submitted.inputs] == ["corrupt.pdf", "good.pdf"]
    for raw, src in zip(submitted.inputs, (corrupt, good)):
        assert raw.sha256 == hashlib.sha256(src.read_bytes()).hexdigest()
        assert rt.store.get(raw_key(raw.sha256)) == src.read_bytes()
        assert rt.store.info(raw_key(raw.sha256)).metadata["original_name"] == src.name
    assert not (tmp_path / "data" / "objects").exists()  # nothing kept locally

    (chunk,) = plan_batch(rt, submitted.batch_id)
    assert (chunk.sha256, chunk.stop) == (submitted.inputs[1].sha256, 2)
    (reason,) = quarantine_reasons(rt, submitted.batch_id)
    assert reason.startswith("corrupt.pdf: truncated PDF") and reason.endswith("(InputError)")

    _tamper(rt.store, raw_key(submitted.inputs[1].sha256))
    with pytest.raises(ObjectDamagedError, match="is damaged"):
        plan_batch(rt, submitted.batch_id)
