"""The web page in a real browser against the running local stack: sign in, upload, see INDEXED, search
with the snippet highlighted, a broken file's reason, delete. Its screenshots go to a temporary folder,
or to QUARRY_SCREENSHOTS (docs/ by `make screenshots`) when set."""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as visible
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.clients.browser import chromium
from tests.conftest import BOB
from tests.documents import FACT_DOCUMENTS, encrypt_pdf, make_pdf

pytestmark = pytest.mark.slow
WAIT_S = 90


@pytest.fixture
def browser(tmp_path_factory):
    driver = chromium(tmp_path_factory.mktemp("chromium-profile"))
    yield driver
    driver.quit()


@pytest.fixture
def screenshots(tmp_path) -> Path:
    folder = Path(os.environ.get("QUARRY_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def row_of(browser, name: str):
    rows = browser.find_elements(
        By.XPATH, f"//tbody[@id='document-rows']/tr[td[1][normalize-space()='{name}']]"
    )
    return rows[0] if rows else None


def wait_for_status(browser, name: str, status: str) -> None:
    # The list is rebuilt whenever a document changes: an element found a moment ago may be gone.
    WebDriverWait(browser, WAIT_S, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda b: (row := row_of(b, name)) is not None and row.get_attribute("data-status") == status,
        f"{name} never showed {status}",
    )


def test_the_page_is_served_beside_the_api(stack):
    with urllib.request.urlopen(stack.api_url + "/") as page:
        assert page.headers["Content-Type"].startswith("text/html") and b'src="web/app.js"' in page.read()
    with urllib.request.urlopen(stack.api_url + "/web/app.js") as module:
        assert "javascript" in module.headers["Content-Type"]
    with pytest.raises(urllib.error.HTTPError) as outside:
        urllib.request.urlopen(stack.api_url + "/web/../app.py")
    assert outside.value.code == 404
    with urllib.request.urlopen(stack.api_url + "/health") as health:  # the API is still the API
        assert health.read() == b'{"status":"ok"}'


def test_sign_in_upload_search_and_delete_in_a_real_browser(stack, browser, screenshots, tmp_path):
    wait = WebDriverWait(browser, WAIT_S)
    browser.get(stack.api_url + "/")

    # Sign in with the keyboard alone: the user name field has focus, Enter submits.
    wait.until(visible.visibility_of_element_located((By.ID, "username")))
    assert browser.switch_to.active_element.get_attribute("id") == "username"
    browser.switch_to.active_element.send_keys(BOB.username, Keys.TAB, BOB.password, Keys.ENTER)
    wait.until(visible.visibility_of_element_located((By.ID, "signed-in")))
    assert f"Signed in as {BOB.username}" in browser.find_element(By.ID, "who").text

    # Upload a good file and a broken one through the file picker.
    good = tmp_path / "lighthouse.txt"
    good.write_bytes(FACT_DOCUMENTS["lighthouse.txt"][0])
    broken = tmp_path / "locked.pdf"
    broken.write_bytes(encrypt_pdf(make_pdf(["confidential"])))
    browser.find_element(By.ID, "upload-metadata").send_keys("source=browser")
    browser.find_element(By.ID, "file-input").send_keys(f"{good}\n{broken}")

    wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#upload-list li")) == 2)
    for item in browser.find_elements(By.CSS_SELECTOR, "#upload-list li"):
        WebDriverWait(browser, WAIT_S).until(lambda _, item=item: "uploaded" in item.text)
        assert item.find_element(By.TAG_NAME, "progress").get_attribute("value") == "1"

    wait_for_status(browser, "lighthouse.txt", "INDEXED")
    wait_for_status(browser, "locked.pdf", "FAILED")
    # Both are final now: the list stays as it is.
    indexed, failed = row_of(browser, "lighthouse.txt"), row_of(browser, "locked.pdf")
    assert indexed.find_element(By.CSS_SELECTOR, ".status").text == "INDEXED"
    reason = failed.find_element(By.CSS_SELECTOR, ".failure").text
    assert reason.startswith("ENCRYPTED: ") and len(reason) > 30
    # The extraction, behind a disclosure: the title, summary and the upload's metadata.
    indexed.find_element(By.TAG_NAME, "summary").click()
    details = indexed.find_element(By.TAG_NAME, "dl").text
    assert "Summary" in details and "Skerryvore" in details and "source=browser" in details
    # The status changes were announced to screen readers.
    announcer = browser.find_element(By.ID, "announcer")
    assert announcer.get_attribute("aria-live") == "polite"
    browser.save_screenshot(str(screenshots / "web-documents.png"))

    # Search: keyboard focus is visible, the first result is the file, its words are marked.
    query = browser.find_element(By.ID, "query")
    query.send_keys("how many seabirds does the Skerryvore keeper count")
    browser.switch_to.active_element.send_keys(Keys.TAB)  # onto the mode select, by keyboard
    focused = browser.switch_to.active_element
    assert focused.get_attribute("id") == "mode"
    assert focused.value_of_css_property("outline-style") == "solid"
    query.send_keys(Keys.ENTER)
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#results .card"))
    first = browser.find_element(By.CSS_SELECTOR, "#results .card")
    assert "lighthouse.txt" in first.find_element(By.TAG_NAME, "h3").text
    marked = {m.text.lower() for m in first.find_elements(By.TAG_NAME, "mark")}
    # "count" marks "counts" (a word the query's word starts); "the" and "does" are too common to mark.
    assert marked == {"seabirds", "skerryvore", "keeper", "counts"}, marked
    assert "score" in first.find_element(By.CLASS_NAME, "meta").text
    browser.execute_script("document.getElementById('search').scrollIntoView()")
    browser.save_screenshot(str(screenshots / "web-search.png"))

    # A filter that excludes it: no results, said so.
    browser.find_element(By.ID, "metadata-filter").send_keys("source=elsewhere", Keys.ENTER)
    wait.until(lambda b: b.find_element(By.ID, "search-summary").text == "Nothing found.")

    # Drag and drop: a file dropped on the zone goes the same way (the drop event a browser fires, with
    # the file in its DataTransfer: WebDriver cannot drag from the desktop).
    browser.execute_script(
        """const dropped = new DataTransfer();
        dropped.items.add(new File([arguments[0]], "dropped.md", {type: "text/markdown"}));
        document.getElementById("drop-zone").dispatchEvent(
          new DragEvent("drop", {dataTransfer: dropped, bubbles: true, cancelable: true}));""",
        FACT_DOCUMENTS["orchard.md"][0].decode(),
    )
    wait_for_status(browser, "dropped.md", "INDEXED")

    # The status filter: only the failed one.
    Select(browser.find_element(By.ID, "status-filter")).select_by_visible_text("FAILED")
    WebDriverWait(browser, WAIT_S, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda b: (
            [r.get_attribute("data-status") for r in b.find_elements(By.CSS_SELECTOR, "#document-rows tr")]
            == ["FAILED"]
        )
    )
    Select(browser.find_element(By.ID, "status-filter")).select_by_visible_text("all")
    WebDriverWait(browser, WAIT_S).until(lambda b: row_of(b, "lighthouse.txt") is not None)

    # Delete: the row goes.
    row_of(browser, "lighthouse.txt").find_element(By.CSS_SELECTOR, "button.danger").click()
    wait.until(lambda b: row_of(b, "lighthouse.txt") is None)
    assert row_of(browser, "locked.pdf") is not None
    wait.until(
        lambda b: "lighthouse.txt deleted" in b.find_element(By.ID, "announcer").get_attribute("textContent")
    )


def test_a_wrong_password_is_said_on_the_page(stack, browser):
    browser.get(stack.api_url + "/")
    WebDriverWait(browser, WAIT_S).until(visible.visibility_of_element_located((By.ID, "username")))
    browser.find_element(By.ID, "username").send_keys(BOB.username)
    browser.find_element(By.ID, "password").send_keys("not-the-password", Keys.ENTER)
    error = browser.find_element(By.ID, "sign-in-error")
    WebDriverWait(browser, WAIT_S).until(lambda _: error.text.startswith("Sign-in failed"))
    assert error.get_attribute("role") == "alert"
    assert not browser.find_element(By.ID, "signed-in").is_displayed()
