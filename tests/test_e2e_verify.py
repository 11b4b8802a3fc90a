"""The keyboard verify loop in headless Chromium: an istanza with 13 doubtful fields cleared
with the keyboard alone, decisions sent to the JSON API, no page load after the first; then
the next istanza of the queue with one key. Screenshots of the loop and of the field viewer go
to $PLICO_SCREENS (default: the test's temporary folder; docs/screens/ holds the committed
ones)."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import select
from test_e2e_browser import CHROMIUM, served  # noqa: F401 (the fixture)
from web_client import PASSWORD, sample_kits
from web_testdata import build, save, with_images

from storage.db import FieldDecision, Kit, session_scope

DOUBTFUL = ("m1.3", "m1.4", "m1.6", "m1.16", "m1.22", "m1.28", "m1.33", "m1.34", "m1.35",
            "m1.38", "m1.44", "m1.49", "m1.54")


def _doubtful_kit(web):
    """The clean MI kit again (number 4) with 13 fields read with low confidence, its two
    pages drawn; the surname with other readings and what its cells said."""
    tk = build(sample_kits()[2].plan, 4, "MI", review=DOUBTFUL)
    fields = dict(tk.record.fields)
    fields["m1.3"] = fields["m1.3"].model_copy(update={
        "read_as": "SHEIKN", "alternatives": [("SHEIKH", 0.7), ("SHEIKN", 0.3)]})
    tk.record = tk.record.model_copy(update={"fields": fields})
    tk = with_images(tk, web.store, {1, 2})
    save(web.engine, web.store, [tk])
    return tk


def _open_as_reviewer(page, base: str, kit_id: str) -> None:
    """Log in as rev_mi from the istanza's link and land on the istanza."""
    page.set_default_timeout(10_000)
    page.goto(f"{base}/login?next=/istanze/{kit_id}")
    page.fill("#name", "rev_mi")
    page.fill("#password", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(f"{base}/istanze/{kit_id}", timeout=30_000)  # a password hash, loaded


def test_keyboard_loop_clears_13_fields(served, tmp_path) -> None:  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    web, base, _logs = served
    tk = _doubtful_kit(web)
    screens = Path(os.environ.get("PLICO_SCREENS") or tmp_path / "screens")
    screens.mkdir(parents=True, exist_ok=True)
    presses = 0

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        _open_as_reviewer(page, base, tk.kit_id)
        loop = page.locator("#verifica")
        expect(page.locator(":focus")).to_have_id("verifica-valore")
        expect(loop).to_have_attribute("data-active", "m1.3")
        expect(loop).to_contain_text("SHEIKH (70%)")
        expect(loop).to_contain_text("Le celle dicevano: SHEIKN")
        crop = page.locator("#vl-crop")
        page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                               arg=crop.element_handle())
        size = crop.evaluate("i => [i.naturalWidth, i.getBoundingClientRect().width]")
        assert size[1] >= size[0] - 1, f"the crop is shrunk: {size}"  # full resolution
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(screens / "verify-loop.png"))
        loop.screenshot(path=str(screens / "field-viewer.png"))
        page.set_viewport_size({"width": 960, "height": 900})  # the actions stay in view
        assert page.evaluate("document.documentElement.scrollWidth") <= 960
        for sel in ("#vl-confirm-all", "#campo-m1-3 form.correct button"):
            box = page.locator(sel).bounding_box()
            assert box and box["x"] + box["width"] <= 960, sel
        page.screenshot(path=str(screens / "verify-loop-960.png"))
        page.locator("#verifica-valore").focus()

        def press(key: str) -> None:
            nonlocal presses
            page.keyboard.press(key)
            presses += 1

        press("Enter")  # m1.3 confirmed
        expect(loop).to_have_attribute("data-active", "m1.4")
        press("Enter")
        expect(loop).to_have_attribute("data-active", "m1.6")
        for ch in "VERONA":  # typing replaces the selected value
            press(ch)
        press("Enter")  # the correction saved (a comune of the ISTAT list)
        for _ in range(4):
            press("Enter")
        press("Alt+A")  # the next open anomaly: its field becomes the active one
        press("Enter")
        press("Alt+T")  # Conferma tutti i rimanenti
        expect(page.locator(".portal-grid")).to_contain_text("Verificata", timeout=30_000)
        expect(page.locator("#vl-progress")).to_have_text("0 da decidere")
        assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
        assert page.evaluate("window.plicoLoop.kit") == tk.kit_id  # never reloaded
        expect(page.locator("#campo-m1-6 td.value strong")).to_have_text("VERONA")
        press("Alt+S")  # the next istanza of the queue
        page.wait_for_url(f"{base}/istanze/{web.mi.kit_id}")
        browser.close()

    assert presses <= 30, presses
    with session_scope(web.engine, write=False) as db:
        kit = db.get(Kit, tk.kit_id)
        decisions = db.scalars(select(FieldDecision).where(FieldDecision.kit_id == tk.kit_id))
        made = {d.field_key: (d.action, d.value_after) for d in decisions}
        assert kit.status == "verificata" and kit.claimed_by == "rev_mi"
    assert set(made) == set(DOUBTFUL) and made["m1.6"] == ("correct", "VERONA")
    assert sum(1 for a, _ in made.values() if a == "confirm") == 12


def test_an_expired_session_keeps_the_typed_value_and_gives_it_back(served) -> None:  # noqa: F811
    """The session cookie gone while a correction is typed: Enter leads to the login, the
    value is not decided, and after the login the field comes back with the typed value."""
    from playwright.sync_api import expect, sync_playwright

    web, base, _logs = served
    tk = _doubtful_kit(web)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        context = browser.new_context(viewport={"width": 1366, "height": 900})
        page = context.new_page()
        _open_as_reviewer(page, base, tk.kit_id)
        loop = page.locator("#verifica")
        expect(loop).to_have_attribute("data-active", "m1.3")
        page.locator("#verifica-valore").fill("SHEIKH")
        context.clear_cookies()  # the session expires while the reviewer types
        with page.expect_response(lambda r: "/decisioni" in r.url) as answer:
            page.locator("#verifica-valore").press("Enter")
        assert answer.value.status == 401  # "log in again", not a CSRF refusal
        page.wait_for_url(f"{base}/login?next=*", timeout=30_000)
        page.fill("#name", "rev_mi")
        page.fill("#password", PASSWORD)
        page.click("form button[type=submit]")
        page.wait_for_url(f"{base}/istanze/{tk.kit_id}", timeout=30_000)
        expect(loop).to_have_attribute("data-active", "m1.3")
        expect(page.locator("#verifica-valore")).to_have_value("SHEIKH")
        browser.close()
    with session_scope(web.engine, write=False) as db:
        decided = db.scalars(select(FieldDecision).where(FieldDecision.kit_id == tk.kit_id)).all()
    assert decided == []  # nothing was decided behind the reviewer's back
