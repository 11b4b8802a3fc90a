"""End to end in headless Chromium (Debian's /usr/bin/chromium driven by Playwright): the app
served by uvicorn on a free port, a reviewer logs in, opens the queue and an istanza, corrects
a field, resolves an anomaly and sees both in the audit trail; keyboard use (skip link, focus
order); no personal data in the log output of the whole run.

Screenshots at 1366x768 go to $PLICO_SCREENS (default: the test's temporary folder).
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
from web_client import PASSWORD, make_web
from web_testdata import corrected_cf

CHROMIUM = "/usr/bin/chromium"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path):
    """The app under uvicorn in a thread; every log record of the run captured as text."""
    import uvicorn

    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing in CI")
        pytest.skip("chromium is not installed")
    logs = io.StringIO()
    handler = logging.StreamHandler(logs)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    from web.cli import _RedactStatusCodes

    access = logging.getLogger("uvicorn.access")
    redact = _RedactStatusCodes()
    access.addFilter(redact)
    web = make_web(tmp_path, f"sqlite:///{tmp_path / 'index.db'}", images=True)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(web.app, host="127.0.0.1", port=port,
                                           log_config=None, log_level="debug"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield web, f"http://127.0.0.1:{port}", logs
    finally:
        server.should_exit = True
        thread.join(10)
        root.removeHandler(handler)
        root.setLevel(old_level)
        access.removeFilter(redact)


def test_review_flow_in_chromium(served, tmp_path) -> None:
    from playwright.sync_api import expect, sync_playwright

    web, base, logs = served
    screens = Path(os.environ.get("PLICO_SCREENS") or tmp_path / "screens")
    screens.mkdir(parents=True, exist_ok=True)
    kit = web.mi
    wrong_cf = kit.record.fields["m1.31"].value
    right_cf = corrected_cf(wrong_cf)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.set_default_timeout(10_000)

        # keyboard: the first Tab reaches the skip link, which moves focus to the content
        page.goto(f"{base}/login")
        page.keyboard.press("Tab")
        expect(page.locator(":focus")).to_have_text("Vai al contenuto")
        page.keyboard.press("Enter")
        expect(page.locator(":focus")).to_have_id("main")
        page.screenshot(path=str(screens / "login.png"))

        # log in with the keyboard alone: labelled fields in order, Enter submits
        page.get_by_label("Nome utente").focus()
        page.keyboard.type("rev_mi")
        page.keyboard.press("Tab")
        expect(page.locator(":focus")).to_have_id("password")
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(f"{base}/coda")
        expect(page.get_by_role("heading", name="Istanze da verificare")).to_be_visible()
        rows = page.locator("table.queue tbody tr")
        expect(rows).to_have_count(1)  # the RM istanza is not this reviewer's
        page.screenshot(path=str(screens / "queue.png"))

        page.get_by_role("link", name=kit.record.kit.codice_istanza).click()
        page.wait_for_url(f"{base}/istanze/{kit.kit_id}")
        expect(page.locator(".portal-grid")).to_contain_text(kit.record.kit.codice_istanza)
        expect(page.locator("#anom-h")).to_be_visible()
        evidence = page.locator("figure.evidence img").first
        expect(evidence).to_be_visible()
        # the evidence (the page band around the field, boxed in red) has loaded
        page.wait_for_function("img => img.complete && img.naturalWidth > 100",
                               arg=evidence.element_handle())
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(screens / "istanza.png"))
        page.screenshot(path=str(screens / "istanza-full.png"), full_page=True)

        # correct the codice fiscale: validation runs again and clears the anomaly
        page.get_by_label("Valore corretto per Codice fiscale (m1.31)").fill(right_cf)
        page.locator("#campo-m1-31 form.correct button").click()
        expect(page.locator(".flash")).to_contain_text("Campo corretto")
        cf_anomaly = page.locator("article.anomaly", has_text="Codice fiscale non valido")
        expect(cf_anomaly).to_contain_text("Superata da correzione")

        # resolve the remaining (reading) anomaly with a note
        open_one = page.locator("tr.doubt", has_text="m1.3")
        open_one.get_by_label("Esito dell'anomalia (m1.3)").select_option("accettata")
        open_one.get_by_label("Nota (m1.3)").fill("cognome verificato sul passaporto")
        open_one.get_by_role("button", name="Registra").click()
        expect(page.locator(".flash")).to_contain_text("Esito registrato")
        expect(page.locator(".portal-grid")).to_contain_text("Verificata")

        trail = page.locator("section[aria-labelledby=audit-h] table")
        expect(trail).to_contain_text("correzione campo")
        expect(trail).to_contain_text(right_cf)
        expect(trail).to_contain_text("esito anomalia")
        page.locator("#fields-h").scroll_into_view_if_needed()
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(screens / "istanza-after.png"))

        page.goto(f"{base}/stato?codice={kit.record.kit.assicurata}")
        expect(page.locator(".light")).to_contain_text("Pratica pronta")
        page.screenshot(path=str(screens / "status.png"))
        browser.close()

    text = logs.getvalue()
    assert "GET /coda" in text  # the access log was captured
    for secret in [*kit.secrets, right_cf, *web.rm.secrets]:
        assert secret not in text, "personal data in the log output"
