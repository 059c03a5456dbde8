"""The built website in a real browser, offline: headless Debian Chromium driven by Playwright.

Serves ``_build/html`` on 127.0.0.1 and visits every page of the table of contents. On each page:
no console error, no failed request, no request to any other host, math typeset by MathJax with no
raw TeX left (and no MathJax loaded on a page without mathematics), every image loaded and
described by its alt text (not a file path), every captioned figure numbered, no display equation
wider than its column at 1280 px and any that is wider at 390 px scrollable with a visible cue;
notebook pages carry a correct Colab link; the explorers respond to a slider and each has a static
twin (a figure of its views) under it; the search page finds a term. The theme's chrome: at 390 px
the chapter list and the contents open from their toggles, at 900 and 1280 px the chapter-list
toggle works, one search box, no empty header bar, a favicon that is served, a colour-mode button
whose first click changes the colours. A full-page screenshot of every page is saved in
``_build/screenshots/``. Run with ``make site-test`` (which builds the book first).

``CNNBOOK_SITE_DIR`` and ``CNNBOOK_TOC`` point the test at another build and its toc (to check a
partial build while writing a chapter); by default ``_build/html`` and ``_toc.yml``.
"""

from __future__ import annotations

import functools
import http.server
import os
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SITE = Path(os.environ.get("CNNBOOK_SITE_DIR", ROOT / "_build" / "html"))
TOC = Path(os.environ.get("CNNBOOK_TOC", ROOT / "_toc.yml"))
SHOTS = SITE.parent / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
CHAPTER_PAGES = {
    "chapters/01-mlp-to-cnn",
    "chapters/02-convolution",
    "chapters/03-activations",
    "chapters/04-pooling",
    "chapters/05-batchnorm",
    "chapters/06-training",
    "chapters/07-transfer-learning",
}
# Pages whose sources contain mathematics.
MATH_PAGES = CHAPTER_PAGES | {"glossary"}
# Every chapter has at least one explorer.
EXPLORER_PAGES = CHAPTER_PAGES

pytestmark = pytest.mark.browser


def toc_pages() -> list[str]:
    toc = yaml.safe_load(TOC.read_text(encoding="utf-8"))
    pages = [toc["root"]]
    for part in toc["parts"]:
        pages += [entry["file"] for entry in part["chapters"]]
    return pages


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # keep pytest's output readable
        pass


@pytest.fixture(scope="module")
def server():
    if not (SITE / "index.html").exists():
        pytest.fail("_build/html is missing: run `make book` first (make site-test does)")
    handler = functools.partial(_QuietHandler, directory=str(SITE))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser-deps`")
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


class PageWatch:
    """Records console errors, failed requests and every request that leaves 127.0.0.1."""

    def __init__(self, page) -> None:
        self.errors: list[str] = []
        self.failed: list[str] = []
        self.foreign: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        page.on("requestfailed", lambda r: self.failed.append(f"{r.url} ({r.failure})"))
        page.on("response", self._response)
        page.route("**/*", self._route)

    def _console(self, msg) -> None:
        if msg.type == "error":
            self.errors.append(msg.text)

    def _response(self, response) -> None:
        if response.status >= 400:
            self.failed.append(f"{response.url} (HTTP {response.status})")

    def _route(self, route) -> None:
        url = urlparse(route.request.url)
        if url.scheme in ("http", "https") and url.hostname != "127.0.0.1":
            self.foreign.append(route.request.url)
            route.abort()  # the site must work offline: never let a request out
        else:
            route.continue_()


def open_page(browser, url: str):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = PageWatch(page)
    page.goto(url, wait_until="load")
    return context, page, watch


MATHJAX_SCRIPTS_JS = """() => Array.from(document.scripts)
  .filter(s => /mathjax/i.test(s.src) || /^\\s*window\\.MathJax/.test(s.textContent))
  .map(s => s.src || "inline MathJax configuration")"""

MATHJAX_READY_JS = "() => window.MathJax && MathJax.startup && MathJax.startup.promise"

RAW_TEX_JS = """() => {
  const skip = new Set(["SCRIPT", "STYLE", "PRE", "CODE", "TEXTAREA", "MJX-CONTAINER"]);
  const bad = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    let node = walker.currentNode, el = node.parentElement, hidden = false;
    while (el) { if (skip.has(el.tagName)) { hidden = true; break; } el = el.parentElement; }
    if (hidden) continue;
    const t = node.textContent;
    if (t.includes("$$") || t.includes("\\\\(") || t.includes("\\\\[") || t.includes("\\\\begin"))
      bad.push(t.trim().slice(0, 80));
  }
  return bad;
}"""

IMAGES_JS = """async () => {
  const imgs = Array.from(document.images);
  imgs.forEach(i => { i.loading = "eager"; });
  await Promise.all(imgs.map(i => i.complete ? null :
    new Promise(r => { i.addEventListener("load", r); i.addEventListener("error", r); })));
  return imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(0, 80));
}"""


# Every image says what it shows (issue 16): a figure a code cell draws takes its alt text from
# the cell's metadata ("mystnb": {"image": {"alt": ...}}); without it myst-nb writes the image's
# file path. The explorers' images take their alt text from the explorer's title.
ALT_JS = """() => Array.from(document.images).map(i => ({
  src: i.getAttribute("src") || "", alt: (i.getAttribute("alt") || "").trim()}))"""


def _alt_problem(alt: str) -> str | None:
    if not alt:
        return "empty alt"
    if alt.lower().endswith((".png", ".svg", ".jpg", ".jpeg", ".gif")) or "/" in alt:
        return "a file path as alt"
    return None


def alt_problems(page) -> list[str]:
    return [
        f"{img['src'][:60]}: {problem} {img['alt'][:60]!r}"
        for img in page.evaluate(ALT_JS)
        if (problem := _alt_problem(img["alt"]))
    ]


# Every figure with a caption has a number ("Fig. 3.2"): Sphinx numbers a figure that has a
# caption, unless the figure sits outside the toctree's numbering.
FIGURES_JS = """() => Array.from(document.querySelectorAll("figure"))
  .filter(f => f.querySelector("figcaption"))
  .map(f => ({id: f.id, caption: f.querySelector("figcaption").textContent.trim().slice(0, 60),
              number: ((f.querySelector(".caption-number") || {}).textContent || "").trim()}))"""


def unnumbered_figures(page) -> list[str]:
    return [
        f"{fig['id'] or '?'}: {fig['caption']!r}"
        for fig in page.evaluate(FIGURES_JS)
        if not any(ch.isdigit() for ch in fig["number"])
    ]


# Display equations: MathJax's container against its own box (a wider equation scrolls inside it)
# and against the article's column (a container that grew past the column is cut off by the
# theme's overflow: hidden). `scrolls` says whether the container scrolls sideways with the cue of
# _static/cnnbook.css (edge shadows drawn as background gradients).
DISPLAY_MATH_JS = """() => {
  const column = document.querySelector("#main-content article, article, main");
  const right = column ? column.getBoundingClientRect().right : window.innerWidth;
  return Array.from(document.querySelectorAll("mjx-container[display='true']")).map(m => {
    const style = getComputedStyle(m);
    return {
      text: m.textContent.trim().slice(0, 50),
      scrollWidth: m.scrollWidth, clientWidth: m.clientWidth,
      pastColumn: m.getBoundingClientRect().right - right,
      scrolls: ["auto", "scroll"].includes(style.overflowX)
        && style.backgroundImage.includes("gradient"),
    };
  });
}"""


def wide_equations(page) -> list[dict]:
    return [
        m
        for m in page.evaluate(DISPLAY_MATH_JS)
        if m["scrollWidth"] > m["clientWidth"] + 1 or m["pastColumn"] > 1
    ]


@pytest.mark.parametrize("doc", toc_pages())
def test_page_renders_offline(server, browser, doc):
    context, page, watch = open_page(browser, f"{server}/{doc}.html")
    try:
        assert page.title(), f"{doc}: empty title"
        if doc in MATH_PAGES:
            page.wait_for_function(MATHJAX_READY_JS)
            page.evaluate("() => MathJax.startup.promise")
            typeset = page.locator("mjx-container").count()
            assert typeset > 0, f"{doc}: no MathJax output"
        else:  # MathJax (1.3 MB) only where there is mathematics (_ext/cnnbook_site.py)
            scripts = page.evaluate(MATHJAX_SCRIPTS_JS)
            assert scripts == [], f"{doc}: no mathematics, but loads {scripts}"
        assert page.evaluate(RAW_TEX_JS) == [], f"{doc}: raw TeX left on the page"
        assert page.evaluate(IMAGES_JS) == [], f"{doc}: images that did not load"
        assert alt_problems(page) == [], f"{doc}: images without a describing alt text"
        assert unnumbered_figures(page) == [], f"{doc}: figures with a caption but no number"
        if doc in MATH_PAGES:  # the viewport is 1280 px wide: every equation fits its column
            assert wide_equations(page) == [], f"{doc}: display equations wider than the column"
        if doc.startswith("chapters/"):
            colab = page.locator("a[href^='https://colab.research.google.com/']")
            assert colab.count() >= 1, f"{doc}: no Colab launch link"
            href = colab.first.get_attribute("href")
            # The reader notebook (cnnbook.reader) on the branch the pages workflow publishes.
            assert href == (
                "https://colab.research.google.com/github/cnn-book/cnn-book/blob/notebooks/"
                f"{doc}.ipynb"
            )
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{doc.replace('/', '__')}.png"), full_page=True)
        if doc in MATH_PAGES:  # on a phone, an equation that does not fit scrolls, with a cue
            page.set_viewport_size({"width": 390, "height": 900})
            cut = [m["text"] for m in wide_equations(page) if not m["scrolls"]]
            assert cut == [], f"{doc}: equations cut off at 390 px, with no scroll cue"
        page.wait_for_load_state("networkidle")
        assert watch.foreign == [], f"{doc}: requests to other hosts {watch.foreign}"
        assert watch.failed == [], f"{doc}: failed requests {watch.failed}"
        assert watch.errors == [], f"{doc}: console errors {watch.errors}"
    finally:
        context.close()


# An explorer's static twin (issue 16): the next cell draws its views at a few settings as a
# numbered figure, for print, PDF and a notebook without widgets.
STATIC_TWIN_JS = """ex => {
  let cell = ex.closest(".cell"), next = cell && cell.nextElementSibling;
  while (next && !next.matches(".cell")) next = next.nextElementSibling;
  const img = next && next.querySelector("figure img");
  if (!img) return {found: false};
  const number = next.querySelector("figure .caption-number");
  return {found: true, loaded: img.complete && img.naturalWidth > 0,
          alt: (img.getAttribute("alt") || "").trim(), number: number ? number.textContent : ""};
}"""


@pytest.mark.parametrize("doc", sorted(EXPLORER_PAGES))
def test_explorers_respond_to_a_control(server, browser, doc):
    context, page, watch = open_page(browser, f"{server}/{doc}.html")
    try:
        explorers = page.locator(".cnnbook-explorer")
        assert explorers.count() >= 1, f"{doc}: no explorer on the page"
        for k in range(explorers.count()):
            ex = explorers.nth(k)
            ex.scroll_into_view_if_needed()
            view = ex.locator(".cnnbook-view")
            caption = ex.locator(".cnnbook-caption")
            before = (view.inner_html(), caption.inner_html())
            assert before[0] or before[1], f"{doc}: explorer {k} shows nothing"
            control = ex.locator("[data-control]").first
            if control.evaluate("el => el.tagName") == "SELECT":
                options = control.locator("option")
                control.select_option(index=options.count() - 1)
            else:
                control.fill(control.get_attribute("max"))  # fires the input event
            after = (view.inner_html(), caption.inner_html())
            assert after != before, f"{doc}: explorer {k} did not change"
            images = page.evaluate(IMAGES_JS)
            assert images == [], f"{doc}: explorer {k} shows broken images"
            twin = ex.evaluate(STATIC_TWIN_JS)
            assert twin["found"], f"{doc}: explorer {k} has no static twin (a figure) under it"
            assert twin["loaded"], f"{doc}: explorer {k}: its static twin did not load"
            assert _alt_problem(twin["alt"]) is None, f"{doc}: explorer {k}'s twin: {twin['alt']!r}"
            assert any(ch.isdigit() for ch in twin["number"]), f"{doc}: explorer {k}'s twin: {twin}"
        shot = SHOTS / f"{doc.replace('/', '__')}__explorer.png"
        explorers.first.screenshot(path=str(shot))
        assert watch.errors == [] and watch.foreign == []
    finally:
        context.close()


def test_search_finds_a_term(server, browser):
    context, page, watch = open_page(browser, f"{server}/search.html?q=receptive")
    try:
        results = page.locator("#search-results li")
        results.first.wait_for(timeout=20_000)
        found = " ".join(results.all_inner_texts())
        assert results.count() >= 1
        assert "Convolution" in found or "From MLPs to CNNs" in found
        page.screenshot(path=str(SHOTS / "search.png"), full_page=True)
        assert watch.errors == [] and watch.foreign == [] and watch.failed == []
    finally:
        context.close()


# The theme's chrome, at the widths the review used (issue 16): the sidebar toggles work (the newer
# pydata theme once added hidden duplicates that its script bound instead), one search box, a
# favicon, and a colour-mode button whose first click changes the colours.
CHAPTER = "chapters/02-convolution"


def open_at(browser, url: str, width: int):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    watch = PageWatch(page)
    page.goto(url, wait_until="load")
    return context, page, watch


def visible(page, selector: str):
    return page.locator(f"{selector} >> visible=true")


def test_chapter_list_and_contents_open_on_a_phone(server, browser):
    context, page, watch = open_at(browser, f"{server}/{CHAPTER}.html", 390)
    try:
        assert not page.locator("#pst-primary-sidebar").is_visible()
        for toggle, dialog, link in [
            (".primary-toggle", "#pst-primary-sidebar-modal", "a[href*='01-mlp-to-cnn']"),
            (".secondary-toggle", "#pst-secondary-sidebar-modal", "a[href^='#']"),
        ]:
            buttons = visible(page, toggle)
            assert buttons.count() == 1, f"{toggle}: {buttons.count()} visible buttons"
            buttons.first.click()
            modal = page.locator(dialog)
            modal.wait_for(state="visible", timeout=5_000)
            assert modal.evaluate("d => d.open"), f"{dialog} did not open"
            assert modal.locator(link).first.is_visible(), f"{dialog}: its links are not shown"
            box = modal.bounding_box()
            assert box and box["width"] > 150, f"{dialog}: {box}"
            page.screenshot(path=str(SHOTS / f"phone{toggle.replace('.', '__')}.png"))
            page.keyboard.press("Escape")
            modal.wait_for(state="hidden", timeout=5_000)
        assert watch.errors == [] and watch.failed == [] and watch.foreign == []
    finally:
        context.close()


@pytest.mark.parametrize("width", [900, 1280])
def test_chapter_list_toggle_works_on_wider_screens(server, browser, width):
    context, page, watch = open_at(browser, f"{server}/{CHAPTER}.html", width)
    try:
        sidebar = page.locator("#pst-primary-sidebar")
        toggle = visible(page, ".primary-toggle")
        assert toggle.count() == 1, f"{toggle.count()} visible chapter-list toggles"
        if sidebar.is_visible():  # wide: the toggle folds the chapter list away and back
            toggle.first.click()
            sidebar.wait_for(state="hidden", timeout=5_000)
            toggle.first.click()
            sidebar.wait_for(state="visible", timeout=5_000)
        else:  # narrow: the toggle opens the chapter list as a dialog
            toggle.first.click()
            page.locator("#pst-primary-sidebar-modal").wait_for(state="visible", timeout=5_000)
        assert watch.errors == [] and watch.failed == [] and watch.foreign == []
    finally:
        context.close()


@pytest.mark.parametrize("width", [390, 900, 1280])
def test_one_search_box_and_no_empty_header(server, browser, width):
    context, page, _ = open_at(browser, f"{server}/{CHAPTER}.html", width)
    try:
        fields = visible(page, ".search-button-field")
        assert fields.count() <= 1, f"{fields.count()} search boxes at {width} px"
        if width >= 1280:
            assert fields.count() == 1, "no search box in the chapter list"
        assert visible(page, ".bd-header").count() == 0, "an (empty) header bar is shown"
    finally:
        context.close()


def test_favicon_is_served(server, browser):
    context, page, watch = open_at(browser, f"{server}/intro.html", 1280)
    try:
        icon = page.locator("link[rel='icon']")
        assert icon.count() == 1, "no <link rel=icon>: browsers ask for /favicon.ico (a 404)"
        href = icon.first.evaluate("el => el.href")
        response = page.request.get(href)
        assert response.status == 200, f"favicon {href}: HTTP {response.status}"
        page.wait_for_load_state("networkidle")
        assert watch.failed == [], f"failed requests {watch.failed}"
    finally:
        context.close()


def test_first_colour_mode_click_changes_the_colours(server, browser):
    context, page, watch = open_at(browser, f"{server}/{CHAPTER}.html", 1280)
    try:
        root = page.locator("html")
        assert root.get_attribute("data-theme") == "light"
        button = visible(page, ".theme-switch-button").first
        seen = []
        for _ in range(3):
            button.click()
            seen.append((root.get_attribute("data-mode"), root.get_attribute("data-theme")))
        # light -> dark -> auto (the system's: light in this browser) -> light
        assert seen == [("dark", "dark"), ("auto", "light"), ("light", "light")], seen
        assert watch.errors == []
    finally:
        context.close()
