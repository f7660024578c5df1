"""The pages in a real browser: search, read the cited passage, manage documents, evaluation, API docs."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from tests.browser.conftest import DESKTOP, Screenshot, make_driver, require_browser, set_viewport
from tests.conftest import DOCS, THIRD
from tests.service.conftest import AUTH, TOKEN

require_browser()  # before selenium is imported: skips this module without a browser, fails in CI

from selenium.common.exceptions import NoAlertPresentException  # noqa: E402
from selenium.webdriver.chrome.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

QUESTION = "Trụ sở chuyển về Hồ Xuân Hương năm nào?"
UNANSWERABLE = "Ban Chấp hành nhiệm kỳ 2035 gồm bao nhiêu người ở Đà Nẵng?"
NO_DIACRITICS = "tru so chuyen ve dau"
RESULTS = "#results li.result"
NEW_ID, NEW_TITLE, NEW_PUBLISHED, NEW_TEXT = THIRD
NEW_QUESTION = "Công đoàn có bao nhiêu đoàn viên?"
FORM_CONTROLS = ("input", "select", "textarea", "button")
# The test documents are short: in a viewport this low the cited passage is below the fold until the page scrolls.
SHORT = (1280, 200)


def wait(driver: WebDriver, seconds: float = 10) -> WebDriverWait:
    return WebDriverWait(driver, seconds, poll_frequency=0.05)


def squash(text: str) -> str:
    """Whitespace as the reader sees it: the page may wrap or indent what the API returns on one line."""
    return re.sub(r"\s+", " ", text).strip()


def visible(driver: WebDriver, css: str) -> Callable[[Any], WebElement | bool]:
    def condition(_: Any) -> WebElement | bool:
        shown = [e for e in driver.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()]
        return shown[0] if shown else False

    return condition


def results(driver: WebDriver) -> list[WebElement]:
    found: list[WebElement] = wait(driver).until(lambda d: d.find_elements(By.CSS_SELECTOR, RESULTS))
    return found


def ask(driver: WebDriver, base: str, question: str) -> list[WebElement]:
    """Type the question on the search page, press Enter, and return the results once they show."""
    driver.get(f"{base}/")
    box = wait(driver).until(visible(driver, "#q"))
    assert isinstance(box, WebElement)
    box.clear()
    box.send_keys(question)
    box.send_keys(Keys.ENTER)
    # the URL is the last thing to change, whether the form navigates or a script renders and pushes state
    wait(driver).until(lambda d: parse_qs(urlsplit(d.current_url).query).get("q") == [question])
    return results(driver)


def api_search(base: str, question: str) -> dict[str, Any]:
    response = httpx.get(f"{base}/search", params={"q": question, "top_k": 5})
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def requested_urls(driver: WebDriver) -> list[str]:
    """Return the URLs the browser requested since the last call (reading the log empties it).

    A request the browser blocked itself (e.g. by the page's Content-Security-Policy) never left: not listed.
    """
    urls: dict[str, list[str]] = {}  # a redirect is a second URL under the same request id
    blocked = set()
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message["method"] == "Network.requestWillBeSent":
            urls.setdefault(params["requestId"], []).append(params["request"]["url"])
        elif message["method"] == "Network.loadingFailed" and params.get("blockedReason"):
            blocked.add(params["requestId"])
    return [url for request, chain in urls.items() if request not in blocked for url in chain]


def assert_offline(driver: WebDriver, base: str) -> None:
    """No request left the server: the pages must work with no CDN and no network."""
    outside = [u for u in requested_urls(driver) if not u.startswith((f"{base}/", "data:", "blob:", "about:"))]
    assert not outside, f"requests left {base}: {outside}"


def in_viewport(driver: WebDriver, element: WebElement) -> bool:
    return bool(
        driver.execute_script(
            "const r = arguments[0].getBoundingClientRect();"
            "return r.height > 0 && r.top >= 0 && r.top < window.innerHeight && r.bottom > 0;",
            element,
        )
    )


def test_a_question_gets_answers_at_a_shareable_url(
    browser: WebDriver, live_server: str, screenshot: Screenshot
) -> None:
    requested_urls(browser)  # what earlier tests requested is not this test's
    found = ask(browser, live_server, QUESTION)
    assert "18 Hồ Xuân Hương" in found[0].text, found[0].text
    assert not [e for e in browser.find_elements(By.ID, "not-answerable") if e.is_displayed()]
    shared = browser.current_url
    texts = [e.text for e in found]

    browser.get(shared)  # as whoever was sent the link opens it
    assert [e.text for e in results(browser)] == texts
    html = httpx.get(shared).text  # in the page as served, not added by a script afterwards
    assert "18 Hồ Xuân Hương" in html and 'id="results"' in html
    assert_offline(browser, live_server)
    for path in screenshot("search"):
        assert path.stat().st_size > 0


def test_results_render_without_javascript(live_server: str) -> None:
    driver = make_driver(javascript=False)
    try:
        driver.get("data:text/html,<title>off</title><script>document.title = 'on'</script>")
        assert driver.title == "off", "the browser still runs scripts: this test would prove nothing"
        driver.get(f"{live_server}/?{urlencode({'q': QUESTION, 'k': 3})}")
        found = driver.find_elements(By.CSS_SELECTOR, RESULTS)  # no waiting: no script will add any later
        assert len(found) == 3, driver.page_source[:2000]
        assert "18 Hồ Xuân Hương" in found[0].text
    finally:
        driver.quit()


def test_a_citation_opens_the_document_at_the_passage(
    browser: WebDriver, live_server: str, screenshot: Screenshot
) -> None:
    top = api_search(live_server, QUESTION)["results"][0]
    link = ask(browser, live_server, QUESTION)[0].find_element(By.CSS_SELECTOR, "a.citation")
    windows, search_url = set(browser.window_handles), browser.current_url
    set_viewport(browser, SHORT)
    link.click()
    wait(browser).until(lambda d: set(d.window_handles) - windows or d.current_url != search_url)
    opened = set(browser.window_handles) - windows
    if opened:  # the link opened a tab of its own
        browser.switch_to.window(opened.pop())
        set_viewport(browser, SHORT)
    try:
        mark = wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, "mark#cited"))[0]
        # A passage over a heading and a paragraph is one <mark> per block (a mark cannot hold both),
        # the first of them #cited; together they must be the passage.
        marks = browser.find_elements(By.CSS_SELECTOR, "main mark")
        assert marks[0] == mark, "mark#cited is not the first piece of the cited passage"
        cited = squash(" ".join(m.text for m in marks))
        assert cited == squash(top["text"]) or squash(top["highlight"]["text"]) in cited, cited
        wait(browser).until(lambda _: in_viewport(browser, mark), "the cited passage was not scrolled into view")
        screenshot("document")
    finally:
        if browser.current_window_handle not in windows:
            browser.close()
            browser.switch_to.window(windows.pop())
        set_viewport(browser, DESKTOP)


def test_a_question_the_documents_do_not_answer_says_so(browser: WebDriver, live_server: str) -> None:
    ask(browser, live_server, UNANSWERABLE)
    wait(browser).until(visible(browser, "#not-answerable"), "no visible #not-answerable")


def test_a_question_without_diacritics_shows_how_it_was_read(browser: WebDriver, live_server: str) -> None:
    ask(browser, live_server, NO_DIACRITICS)
    rewritten = wait(browser).until(visible(browser, "#rewritten"), "no visible #rewritten")
    assert isinstance(rewritten, WebElement)
    assert "trụ sở" in rewritten.text.lower(), rewritten.text


def test_the_search_page_works_from_the_keyboard(browser: WebDriver, live_server: str) -> None:
    browser.get(f"{live_server}/")
    assert (browser.find_element(By.TAG_NAME, "html").get_attribute("lang") or "").startswith("vi")
    assert browser.find_elements(By.TAG_NAME, "main"), "no <main> landmark"
    assert browser.find_elements(By.CSS_SELECTOR, "label[for=q]"), 'no <label for="q">'
    reached = []
    for _ in range(15):  # a skip link or the navigation may come first; a form control other than #q may not
        focused = browser.switch_to.active_element
        if focused.tag_name.lower() in FORM_CONTROLS:
            break
        reached.append(focused.tag_name)
        ActionChains(browser).send_keys(Keys.TAB).perform()
    assert focused.get_attribute("id") == "q", f"Tab reached {focused.tag_name}#{focused.get_attribute('id')} first"
    ActionChains(browser).send_keys(QUESTION, Keys.ENTER).perform()
    assert "18 Hồ Xuân Hương" in results(browser)[0].text


def row_texts(driver: WebDriver) -> list[str]:
    # read in one script: a row the page removes between two WebDriver calls would be stale
    texts: list[str] = driver.execute_script(
        "return [...document.querySelectorAll('#documents tbody tr')].map(row => row.innerText)"
    )
    return texts


def accept_confirm_then(check: Callable[[], bool]) -> Callable[[Any], bool]:
    """A wait condition: accept a confirm() dialog when one is open, then `check`."""

    def condition(driver: Any) -> bool:
        try:
            driver.switch_to.alert.accept()
        except NoAlertPresentException:
            pass
        return check()

    return condition


def test_documents_can_be_listed_added_and_removed(
    browser: WebDriver, live_server: str, screenshot: Screenshot
) -> None:
    requested_urls(browser)
    browser.get(f"{live_server}/library")
    rows = wait(browser).until(lambda d: len(row_texts(d)) >= 2 and row_texts(d))
    for title, _, _ in DOCS.values():
        assert any(title in row for row in rows), f"{title!r} not in {rows}"

    browser.find_element(By.ID, "token").send_keys(TOKEN, Keys.ENTER)
    stored = "return Object.keys(sessionStorage).some(k => sessionStorage.getItem(k) === arguments[0])"
    wait(browser).until(lambda d: d.execute_script(stored, TOKEN), "the token is not kept in sessionStorage")
    browser.find_element(By.ID, "title").send_keys(NEW_TITLE)
    # typing into a date input depends on the browser's locale; its value does not
    browser.execute_script(
        "const input = arguments[0]; input.value = arguments[1];"
        "for (const type of ['input', 'change']) input.dispatchEvent(new Event(type, {bubbles: true}));",
        browser.find_element(By.ID, "published"),
        NEW_PUBLISHED,
    )
    browser.find_element(By.ID, "text").send_keys(NEW_TEXT)
    try:
        form = browser.find_element(By.ID, "upload-form")
        form.find_element(By.CSS_SELECTOR, "button:not([type=button]):not([type=reset]), input[type=submit]").click()
        wait(browser, 20).until(lambda d: any(NEW_TITLE in row for row in row_texts(d)), "the list lacks the upload")
        documents = httpx.get(f"{live_server}/documents").json()["documents"]
        added_id = next(d["doc_id"] for d in documents if d["title"] == NEW_TITLE)
        status = browser.find_element(By.ID, "admin-status")
        # naming what was added tells it from the message shown while the upload runs
        wait(browser).until(lambda _: added_id in status.text or NEW_TITLE in status.text, "no word of the upload")
        screenshot("library")

        assert "12.000 đoàn viên" in ask(browser, live_server, NEW_QUESTION)[0].text

        browser.get(f"{live_server}/library")
        remove = f'button.remove[data-doc-id="{added_id}"]'
        wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, remove))[0].click()

        def gone() -> bool:
            return not any(NEW_TITLE in row for row in row_texts(browser))

        wait(browser, 20).until(accept_confirm_then(gone), "the removed document is still listed")
        assert not browser.find_elements(By.CSS_SELECTOR, remove)
        assert httpx.get(f"{live_server}/documents/{added_id}").status_code == 404
        assert TOKEN not in browser.current_url
        urls = requested_urls(browser)
        assert not [u for u in urls if TOKEN in u], "the admin token went into a URL"
        outside = [u for u in urls if not u.startswith((f"{live_server}/", "data:", "blob:", "about:"))]
        assert not outside, f"requests left {live_server}: {outside}"
    finally:  # the other tests expect the two documents only
        documents = httpx.get(f"{live_server}/documents").json()["documents"]
        for doc in documents:
            if doc["title"] == NEW_TITLE:
                httpx.delete(f"{live_server}/documents/{doc['doc_id']}", headers=AUTH).raise_for_status()


def test_the_evaluation_page_draws_charts(browser: WebDriver, live_server: str, screenshot: Screenshot) -> None:
    requested_urls(browser)
    browser.get(f"{live_server}/evaluation")
    wait(browser).until(visible(browser, "svg[role=img]"), "no visible svg[role=img] chart")
    assert_offline(browser, live_server)
    screenshot("evaluation")


def same_origin_assets(driver: WebDriver, base: str) -> list[str]:
    """Return the page's scripts, stylesheets and images served from elsewhere than `base`."""
    urls = driver.execute_script(
        "return [...document.querySelectorAll('script[src], link[href], img[src]')].map(e => e.src || e.href)"
    )
    return [u for u in urls if not u.startswith((f"{base}/", "data:", "blob:"))]


@pytest.mark.parametrize(
    ("path", "rendered"),
    [("/docs", ".swagger-ui .opblock"), ("/redoc", ".menu-content, [role=navigation]")],
)
def test_the_api_docs_work_offline(
    browser: WebDriver, live_server: str, screenshot: Screenshot, path: str, rendered: str
) -> None:
    requested_urls(browser)
    browser.get(f"{live_server}{path}")
    wait(browser, 15).until(visible(browser, rendered), f"{path} did not render {rendered}")
    wait(browser).until(lambda d: "viqa" in d.find_element(By.TAG_NAME, "body").text)
    screenshot(path.strip("/"))  # before the checks: a failure is easier to read with the picture
    assert not same_origin_assets(browser, live_server)
    assert_offline(browser, live_server)
