"""The HTML report as a browser shows it: rendered by headless Chromium, its layout read
back from the DOM, its screenshot's pixels checked where the histogram is drawn, and every
network request Chromium made recorded (a self-contained page makes none)."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from grader.instructor_cli import report

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
WIDTH, HEIGHT = 1280, 1600  # the report down to its item analysis, at device scale 1
BAR_COLOUR = (0x3B, 0x6E, 0xA5)  # the histogram bars' fill (grader/report/svg.py)

# Appended to a copy of the report (the report itself has no script): what a reader sees.
MEASURE = """
<script>
function box(element) {
  if (!element) return null;
  const r = element.getBoundingClientRect(), style = getComputedStyle(element);
  return {x: r.x, y: r.y, w: r.width, h: r.height, text: element.innerText || "",
          shown: style.display !== "none" && style.visibility !== "hidden" && r.width > 0};
}
const heading = (t) => [...document.querySelectorAll("h2")].find((h) => h.innerText === t);
const quiz = [...document.querySelectorAll("h3")].find((h) => h.innerText === "quiz-01");
let table = quiz; while (table && table.tagName !== "TABLE") table = table.nextElementSibling;
document.body.setAttribute("data-layout", JSON.stringify({
  width: innerWidth,
  histogram: box(document.querySelector("svg.histogram")),
  bars: [...document.querySelectorAll("svg.histogram rect")].map(box),
  headings: ["Class statistics", "Where the class struggles", "Quiz item analysis"]
            .map((t) => box(heading(t))),
  failures: [...document.querySelectorAll("ul.struggles li")].map(box),
  items: table ? [...table.querySelectorAll("tbody tr")].map(box) : [],
}));
</script>
"""


def _browser() -> str | None:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser() -> str:
    found = _browser()
    if found is None:
        if os.environ.get("FLOWGRADE_REQUIRE_BROWSER"):
            pytest.fail("no chromium binary, and FLOWGRADE_REQUIRE_BROWSER is set (CI)")
        pytest.skip("no chromium binary here (Debian: apt-get install chromium)")
    return found


def chromium(browser: str, page: Path, *mode: str, netlog: Path | None = None) -> str:
    """Run headless Chromium on `page` (network blocked; nothing of its own profile kept)."""
    profile = page.parent / f"profile-{page.stem}"
    args = [browser, "--headless", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
            "--disable-background-networking", "--disable-component-update",
            "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={profile}",
            f"--window-size={WIDTH},{HEIGHT}", "--virtual-time-budget=3000", *mode]  # fmt: skip
    if os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium's own sandbox refuses to run as root
    if netlog is not None:
        args.append(f"--log-net-log={netlog}")
    done = subprocess.run(
        [*args, page.as_uri()], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def page_requests(netlog: Path) -> list[str]:
    """URLs the page itself asked for (Chromium's own background requests have no origin)."""
    log = json.loads(netlog.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [
        e["params"]["url"]
        for e in log["events"]
        if e["type"] == start
        and e.get("params", {}).get("initiator") not in (None, "not an origin")
    ]


def read_png(path: Path, rows: int | None = None) -> np.ndarray:
    """The pixels (rows, width, 3) of an 8-bit RGB or RGBA PNG, as Chromium writes it, down
    to row `rows` (default: all).

    Rows filtered with None, Sub or Up are undone with numpy, Average and Paeth pixel by
    pixel (about a quarter of a page's rows: ~4 s for 1280 x 2600 here, hence `rows`)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, chunks, header = 8, [], b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind, body = data[offset + 4 : offset + 8], data[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
        offset += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6), (depth, colour)
    channels = 3 if colour == 2 else 4
    raw = np.frombuffer(zlib.decompress(b"".join(chunks)), dtype=np.uint8)
    raw = raw.reshape(height, width * channels + 1)
    height = min(height, rows or height)
    image = np.zeros((height, width * channels), dtype=np.uint8)
    previous = np.zeros(width * channels, dtype=np.uint8)
    for y in range(height):
        kind, line = raw[y, 0], raw[y, 1:]
        if kind == 0:
            row = line.copy()
        elif kind == 1:
            row = np.cumsum(line.reshape(width, channels), axis=0, dtype=np.uint8).ravel()
        elif kind == 2:
            row = line + previous
        else:
            row = _average_or_paeth(int(kind), line, previous, channels)
        image[y] = row
        previous = row
    return image.reshape(height, width, channels)[:, :, :3]


def _average_or_paeth(
    kind: int, line: np.ndarray, previous: np.ndarray, channels: int
) -> np.ndarray:
    out = [0] * len(line)
    up = previous.tolist()
    for i, value in enumerate(line.tolist()):
        left = out[i - channels] if i >= channels else 0
        corner = up[i - channels] if i >= channels else 0
        if kind == 3:
            predictor = (left + up[i]) // 2
        else:
            guess = left + up[i] - corner
            distances = (abs(guess - left), abs(guess - up[i]), abs(guess - corner))
            predictor = (left, up[i], corner)[distances.index(min(distances))]
        out[i] = (value + predictor) & 0xFF
    return np.array(out, dtype=np.uint8)


def pixels(image: np.ndarray, area: dict[str, Any]) -> np.ndarray:
    """The (n, 3) pixels of a CSS-pixel box of the page (device scale 1)."""
    x0, y0 = int(area["x"]), int(area["y"])
    return image[y0 : y0 + int(area["h"]), x0 : x0 + int(area["w"])].reshape(-1, 3)


def near(colours: np.ndarray, target: tuple[int, int, int], slack: int = 24) -> np.ndarray:
    return np.all(np.abs(colours.astype(int) - np.array(target)) <= slack, axis=1)


@pytest.fixture(scope="module")
def report_html(graded_class, course_dir, tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("html") / "report.html"
    result = CliRunner().invoke(
        report,
        ["--format", "html", "--out", str(out), "--gradebook", str(graded_class.gradebook),
         "--course", str(course_dir)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


def test_chromium_shows_histogram_failure_rates_and_item_analysis(
    browser: str, report_html: Path
) -> None:
    measured = report_html.with_name("measured.html")
    measured.write_text(report_html.read_text().replace("</body>", MEASURE + "</body>"))
    dom = chromium(browser, measured, "--dump-dom")
    marker = 'data-layout="'
    layout = json.loads(dom.split(marker, 1)[1].split('"', 1)[0].replace("&quot;", '"'))
    histogram = layout["histogram"]
    assert histogram["shown"] and histogram["w"] >= 400 and histogram["h"] >= 150
    tall = [b for b in layout["bars"] if b["h"] > 1]
    assert len(tall) >= 2 and all(
        histogram["y"] <= b["y"] <= histogram["y"] + histogram["h"] for b in tall
    )
    assert all(h is not None and h["shown"] for h in layout["headings"])
    assert layout["failures"] and all(f["shown"] for f in layout["failures"])
    assert any("failed exercise-03" in f["text"] for f in layout["failures"])
    items = layout["items"]
    assert [i["text"].split()[0] for i in items] == ["q1", "q2"] and all(i["shown"] for i in items)
    assert "0.60" in items[0]["text"]  # q1's facility: 3 of 5 right

    screenshot = report_html.with_name("report.png")
    netlog = report_html.with_name("net.json")
    chromium(browser, report_html, f"--screenshot={screenshot}", netlog=netlog)
    regions = [histogram, layout["failures"][0], items[-1]]
    bottom = max(int(r["y"] + r["h"]) + 1 for r in regions)
    assert bottom <= HEIGHT, "the item analysis is below the screenshot: make HEIGHT larger"
    image = read_png(screenshot, rows=bottom)
    assert image.shape == (bottom, WIDTH, 3)
    drawn = pixels(image, histogram)
    bars = int(near(drawn, BAR_COLOUR).sum())
    assert bars > 0.05 * len(drawn), f"only {bars} of {len(drawn)} histogram pixels are bars"
    for region in [layout["failures"][0], items[0]]:  # text really drawn there
        assert (pixels(image, region).max(axis=1) < 128).any()
    margin = {"x": 0, "y": 0, "w": 20, "h": bottom}  # the page's left margin: blank
    assert not near(pixels(image, margin), BAR_COLOUR).any()
    assert page_requests(netlog) == [], "the report fetched something: not self-contained"
    if os.environ.get("FLOWGRADE_SCREENSHOT_DIR"):
        shutil.copy(screenshot, Path(os.environ["FLOWGRADE_SCREENSHOT_DIR"]) / "report.png")


def test_the_request_log_would_catch_an_external_stylesheet(browser: str, tmp_path: Path) -> None:
    page = tmp_path / "leaky.html"
    page.write_text('<!DOCTYPE html><link rel="stylesheet" href="https://cdn.example.com/x.css">')
    netlog = tmp_path / "net.json"
    chromium(browser, page, f"--screenshot={tmp_path / 'leaky.png'}", netlog=netlog)
    assert page_requests(netlog) == ["https://cdn.example.com/x.css"]
