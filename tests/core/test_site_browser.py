"""The live digest in a real browser: Debian's headless chromium renders the index and paper pages from file://.

From the dumped DOM: every built paper is linked, every claim has a verdict and a plot (or its not-checkable
reason), every image and relative link resolves to a file, and nothing is cut off at desktop or phone width. A
check script is added to a *copy* of each page only (the site itself runs no JavaScript). Skipped, with the
reason, where chromium is absent (``.ci/run`` installs it as root).
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from livepapers.core import registry
from livepapers.core.report import build_site
from livepapers.core.reproduce import reproduce
from livepapers.core.runs import source_root

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not found (Debian package `chromium`; .ci/run installs it when run as root)")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
         "--virtual-time-budget=10000"]

# measured after load: images that did not decode, and elements reaching past the viewport (tables, code blocks
# and equations scroll inside their own box by design)
CHECK_JS = """<script>
window.addEventListener("load", function () {
  var vw = document.documentElement.clientWidth, over = [], broken = [];
  document.querySelectorAll("body *").forEach(function (el) {
    if (el.closest(".scroll, pre, math") || el.tagName === "SCRIPT") return;
    var r = el.getBoundingClientRect();
    if (r.width > 0 && (r.right > vw + 1 || r.left < -1))
      over.push(el.tagName + "." + el.className + " [" + Math.round(r.left) + ", " + Math.round(r.right) + "]");
  });
  Array.prototype.forEach.call(document.images, function (img) {
    if (!img.complete || img.naturalWidth === 0) broken.push(img.getAttribute("src"));
  });
  var out = {vw: vw, docWidth: document.documentElement.scrollWidth, over: over.slice(0, 10), broken: broken,
             images: document.images.length, dom: document.documentElement.outerHTML};
  (window.parent || window).document.body.setAttribute("data-check", JSON.stringify(out));
});
</script>"""


def render(page: Path, width: int, tmp_path: Path) -> tuple[str, dict]:
    """``(DOM, layout check)`` of ``page`` in headless chromium, ``width`` CSS pixels wide.

    The page is shown in an iframe of that width (a headless window is at least 500 px wide), so a phone width is
    a real phone width; the check script reports to the frame's parent, the DOM is read from the page itself.
    """
    probe = page.with_name(page.stem + ".check.html")
    frame = page.with_name(page.stem + ".frame.html")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", CHECK_JS + "</body>"), encoding="utf-8")
    frame.write_text(f'<!doctype html><html><body style="margin:0"><iframe src="{probe.name}" '
                     f'style="width:{width}px;height:900px;border:0"></iframe></body></html>', encoding="utf-8")
    profile = tmp_path / f"chromium-{width}-{page.parent.name}"
    try:
        proc = subprocess.run([CHROMIUM, *FLAGS, "--allow-file-access-from-files", f"--user-data-dir={profile}",
                               f"--window-size={max(width, 500) + 40},960", "--dump-dom", frame.as_uri()],
                              capture_output=True, text=True, timeout=120)
    finally:
        probe.unlink()
        frame.unlink()
        shutil.rmtree(profile, ignore_errors=True)
    m = re.search(r'data-check="([^"]*)"', proc.stdout)
    assert m, f"chromium rendered nothing for {page} (exit {proc.returncode}): {proc.stderr[-500:]}"
    check = json.loads(html.unescape(m.group(1)))
    assert check["vw"] == width, {k: v for k, v in check.items() if k != "dom"}
    return check.pop("dom"), check  # the DOM as the browser built it


def assert_resolves(dom: str, page: Path) -> None:
    """Every relative ``src``/``href`` in the DOM names a file that exists."""
    refs = [r for r in re.findall(r'\s(?:src|href)="([^"]+)"', dom) if not r.endswith(".check.html")]
    assert refs
    for ref in refs:
        url = urlsplit(html.unescape(ref))
        if url.scheme in ("http", "https", "mailto") or not url.path:
            continue
        target = (page.parent / unquote(url.path)).resolve()
        assert target.is_file(), f"{page.name}: {ref} does not resolve to a file"


def assert_not_cut_off(check: dict, where: str) -> None:
    assert check["docWidth"] <= check["vw"], f"{where}: page wider than the window: {check}"
    assert check["over"] == [], f"{where}: cut off at the right edge: {check['over']}"
    assert check["broken"] == [], f"{where}: images that did not load: {check['broken']}"


def test_index_and_paper_pages_in_headless_chromium(toy_paper, tmp_path):
    runs, site, bench = tmp_path / "runs", tmp_path / "site", tmp_path / "bench"
    reproduce(toy_paper, profile="default", out=runs, workers=1, verbose=False)
    bench.mkdir()  # one real paper's benchmark results, to render its charts and tables too
    shipped = source_root() / "benchmarks" / "results" / "mega.json"
    if shipped.exists():
        shutil.copy(shipped, bench / "mega.json")
    build_site(runs, site, benchmarks=bench)
    built = [p for p in registry.all_papers() if p.load_error() is None]
    assert toy_paper in [p.slug for p in built]

    # the index, at desktop and phone width: every built paper linked, nothing cut off
    index = site / "index.html"
    for width in (1280, 390):
        dom, check = render(index, width, tmp_path)
        assert_not_cut_off(check, f"index at {width}px")
        links = set(re.findall(r'class="paper-link" href="([^"]+)"', dom))
        assert links == {f"{p.slug}/index.html" for p in built}
    assert_resolves(dom, index)
    assert "claims checked" in dom and 'data-tier="default"' in dom

    # the toy's page (a real run): every claim carries a verdict and a plot, or its not-checkable reason
    page = site / toy_paper / "index.html"
    for width in (1280, 390):
        dom, check = render(page, width, tmp_path)
        assert_not_cut_off(check, f"{toy_paper} page at {width}px")
    assert_resolves(dom, page)
    for c in registry.get(toy_paper).claims:
        card = dom.split(f'id="claim-{c.id}"')[1].split("</article>")[0]
        assert re.search(r'class="badge (holds|fails|inconclusive|not_checkable)"', card), f"{c.id}: no verdict"
        if c.check is None:
            assert "Not checkable here:" in card
        else:
            assert re.search(r'<figure class="plot">.*?<img src="plots/[^"]+\.svg"', card, re.S), f"{c.id}: no plot"
    assert check["images"] >= sum(c.check is not None for c in registry.get(toy_paper).claims)

    # a real paper's page (no run here): equations as MathML, benchmark charts, BibTeX; nothing cut off on a phone
    if shipped.exists():
        page = site / "mega" / "index.html"
        dom, check = render(page, 390, tmp_path)
        assert_not_cut_off(check, "mega page at 390px")
        assert_resolves(dom, page)
        assert "<math" in dom and 'src="bench-0.svg"' in dom and "@inproceedings" in dom
