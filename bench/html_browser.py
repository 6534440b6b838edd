"""The HTML report in a real browser: headless Chromium (or Chrome) loads ``report.html`` from disk, reports which of
its images loaded, and takes a screenshot of it (the README's picture of the page comes from here).

No browser driver is needed: the image check copies the page next to itself (so every relative path resolves the
same) with a short script that, once the page has loaded, writes the state of ``document.images`` into the page;
``chromium --headless --dump-dom`` prints the result. The report itself holds no script.

Usage::

    python -m bench.html_browser OUT/report.html                    # check the images, print the result
    python -m bench.html_browser OUT/report.html --png docs/report_page.png --height 1100 --colors 256

``$LFDM_BENCH_CHROMIUM`` names the browser binary; otherwise the first of :data:`BROWSERS` on ``PATH``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["BROWSERS", "BrowserError", "find_browser", "image_check", "screenshot"]

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
MARK = "lfdm-bench-image-check"
CHECK_SCRIPT = f"""<script>
window.addEventListener("load", function () {{
  var imgs = Array.prototype.slice.call(document.images);
  var out = imgs.map(function (i) {{
    return {{src: i.getAttribute("src"), loaded: i.complete && i.naturalWidth > 0, width: i.naturalWidth,
             height: i.naturalHeight}};
  }});
  var pre = document.createElement("pre");
  pre.id = "{MARK}";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
}});
</script>"""


class BrowserError(RuntimeError):
    """No browser, or the browser failed on the page."""


def find_browser() -> str | None:
    """Path of the headless browser to use (``$LFDM_BENCH_CHROMIUM`` or the first of :data:`BROWSERS` found)."""
    env = os.environ.get("LFDM_BENCH_CHROMIUM")
    if env:
        return env if Path(env).is_file() else shutil.which(env)
    return next((p for p in map(shutil.which, BROWSERS) if p), None)


def _run(args: list[str], browser: str | None, timeout: float) -> str:
    exe = browser or find_browser()
    if exe is None:
        raise BrowserError(f"no headless browser found (tried {', '.join(BROWSERS)}; set $LFDM_BENCH_CHROMIUM)")
    with tempfile.TemporaryDirectory(prefix="lfdm-bench-chromium-") as profile:
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
               "--mute-audio", f"--user-data-dir={profile}", *args]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise BrowserError(f"{exe} did not finish within {timeout:.0f} s") from e
    if r.returncode != 0:
        raise BrowserError(f"{exe} failed (exit {r.returncode}): {r.stderr.strip()[-800:]}")
    return r.stdout


def image_check(page: str | Path, *, browser: str | None = None, timeout: float = 120) -> list[dict]:
    """Load ``page`` in the headless browser; one dict per ``<img>``: ``src``, ``loaded`` (decoded, non-empty),
    ``width``, ``height`` (natural size)."""
    page = Path(page).resolve()
    probe = page.parent / f".{page.stem}.image-check.html"
    text = page.read_text(encoding="utf-8")
    probe.write_text(text.replace("</body>", CHECK_SCRIPT + "</body>", 1), encoding="utf-8")
    try:
        dom = _run(["--virtual-time-budget=20000", "--dump-dom", probe.as_uri()], browser, timeout)
    finally:
        probe.unlink(missing_ok=True)
    m = re.search(rf'<pre id="{MARK}">(.*?)</pre>', dom, re.S)
    if m is None:
        raise BrowserError(f"the page {page} did not finish loading in the browser (no image report in its DOM)")
    import html

    return json.loads(html.unescape(m.group(1)))


def screenshot(page: str | Path, png: str | Path, *, width: int = 1280, height: int = 1600, colors: int = 0,
               browser: str | None = None, timeout: float = 120) -> Path:
    """A ``width`` x ``height`` screenshot of the top of ``page`` (after its images loaded) into ``png``;
    ``colors`` > 0: reduced to a palette of that many colours (a ~3x smaller file for docs)."""
    png = Path(png).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    _run([f"--window-size={width},{height}", "--virtual-time-budget=20000", f"--screenshot={png}",
          Path(page).resolve().as_uri()], browser, timeout)
    if not png.is_file():
        raise BrowserError(f"the browser wrote no screenshot to {png}")
    if colors > 0:
        from PIL import Image

        with Image.open(png) as im:
            small = im.convert("RGB").quantize(min(colors, 256), method=Image.Quantize.MEDIANCUT)
        small.save(png, optimize=True)
    return png


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m bench.html_browser", description=__doc__.split("\n\n")[0])
    ap.add_argument("page", type=Path, help="report.html")
    ap.add_argument("--png", type=Path, default=None, help="also write a screenshot of the top of the page here")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=1600)
    ap.add_argument("--colors", type=int, default=0, help="palette size of the PNG (0: full colour)")
    args = ap.parse_args(argv)
    try:
        images = image_check(args.page)
        bad = [i["src"] for i in images if not i["loaded"]]
        print(f"{len(images) - len(bad)} of {len(images)} images loaded" + (f"; not loaded: {bad}" if bad else ""))
        if args.png is not None:
            png = screenshot(args.page, args.png, width=args.width, height=args.height, colors=args.colors)
            print(f"written: {png}")
    except BrowserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
