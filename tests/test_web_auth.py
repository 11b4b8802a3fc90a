"""The web app's small parts without a server: session cookies, the status limiter, the
reviewer's typed values, the lookup codes, CSV cells."""

from __future__ import annotations

import time

import pytest

from web.auth import Session, SessionCodec, csrf_ok, hash_password, verify_password
from web.queue import _cell
from web.ratelimit import TokenBucket
from web.review import DecisionError, normalise_value
from web.status import parse_code


def test_session_cookie_is_signed_and_expires() -> None:
    codec = SessionCodec(b"k" * 32)
    s = Session()
    s.login("rossi", "fp", hours=1)
    cookie = codec.dumps(s)
    back = codec.loads(cookie)
    assert (back.user, back.fingerprint, back.csrf) == ("rossi", "fp", s.csrf)
    assert SessionCodec(b"other key").loads(cookie) is None
    body, sig = cookie.rsplit(".", 1)
    assert codec.loads(body[:-1] + ("A" if body[-1] != "A" else "B") + "." + sig) is None
    assert codec.loads("garbage") is None and codec.loads(None) is None
    s.expires = time.time() - 1
    expired = codec.loads(codec.dumps(s))
    assert expired.user is None and expired.csrf == s.csrf
    assert csrf_ok(s, s.csrf) and not csrf_ok(s, None) and not csrf_ok(s, s.csrf + "x")


def test_passwords() -> None:
    h = hash_password("a long password")
    assert h.startswith("$argon2id$")
    assert verify_password(h, "a long password") and not verify_password(h, "another one")
    assert not verify_password(None, "a long password") and not verify_password("junk", "x")
    with pytest.raises(ValueError):
        hash_password("short")


def test_token_bucket() -> None:
    bucket = TokenBucket(rate_per_minute=60, burst=2, max_clients=4)
    assert bucket.allow("a", now=0)[0] and bucket.allow("a", now=0)[0]
    allowed, wait = bucket.allow("a", now=0)
    assert not allowed and wait == pytest.approx(1.0)
    assert bucket.allow("b", now=0)[0]  # per client
    assert bucket.allow("a", now=1.0)[0]  # one token a second
    for c in "cdefgh":
        bucket.allow(c, now=2.0)
    assert len(bucket._buckets) <= 4


def test_reviewer_values_are_normalised_like_the_pipeline() -> None:
    assert normalise_value("m1.3", "  de  la  cruz ") == "DE LA CRUZ"
    assert normalise_value("m1.31", " rssmra85t10a562s") == "RSSMRA85T10A562S"
    assert normalise_value("m1.34", "1/2/1990") == "1990-02-01"
    assert normalise_value("m1.34", "1990-02-01") == "1990-02-01"
    assert normalise_value("m1.34", "01021990") == "1990-02-01"
    assert normalise_value("m1#2.34", "") == ""
    with pytest.raises(DecisionError):
        normalise_value("m1.34", "30/02/1990")
    assert normalise_value("m1.29", "no") is False  # the signature box
    assert normalise_value("m1.37", "si") == "SI"  # an option field
    with pytest.raises(DecisionError):
        normalise_value("m1.37", "forse")


def test_status_codes() -> None:
    assert parse_code("06123151448-3") == ("061231514483", "assicurata")
    assert parse_code(" 26fr000001 ") == ("26FR000001", "pratica")
    assert parse_code("12345") is None and parse_code("") is None
    assert parse_code("<script>") is None


def test_csv_cells_cannot_be_formulas() -> None:
    assert _cell("=HYPERLINK(1)") == "'=HYPERLINK(1)" and _cell("-1") == "'-1"
    assert _cell("batch-0001") == "batch-0001" and _cell(None) == "" and _cell(3) == "3"


def test_generated_secret_is_kept_private_and_reused(tmp_path) -> None:
    from web.auth import load_or_create_secret

    key = load_or_create_secret(None, tmp_path / "data")
    assert len(key) >= 48 and load_or_create_secret(None, tmp_path / "data") == key
    assert (tmp_path / "data" / "web-secret").stat().st_mode & 0o077 == 0
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["web-secret"]
    assert load_or_create_secret("configured", tmp_path / "other") == b"configured"
