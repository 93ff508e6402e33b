"""The web page in a real browser: Debian's chromium driven by playwright (never a downloaded browser).

The page is served by ``posekit serve`` (uvicorn, ``fast`` preset) on a free loopback port. One test
walks through what a person does: open the page, upload ``basketball1.png``, see both players drawn
and listed, move the keypoint threshold, save a screenshot (``POSEKIT_SERVE_SCREENSHOT=path`` also
writes it there, e.g. ``docs/serve.png``); then the video tab and the webcam (chromium's fake camera).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium "
                                                     "(.ci/run installs it with apt)"),
]

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync"]
# A synthetic camera, granted without a prompt (the webcam mode).
FAKE_CAMERA = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS + FAKE_CAMERA)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 1280, "height": 820})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", lambda msg: problems.append(f"console: {msg.text}") if msg.type == "error" else None)
    page.on("request", lambda req: problems.append(f"external request: {req.url}")
            if not req.url.startswith((live_server.url, "data:", "blob:")) else None)
    page.problems = problems
    page.goto(f"{live_server.url}/")
    sync_api.expect(page.locator("#status")).to_have_text(re.compile("ready"), timeout=30_000)
    yield page
    context.close()


def test_upload_image_see_people_move_threshold(page, samples: Path, tmp_path: Path):
    expect = sync_api.expect
    page.set_input_files("#file-input", str(samples / "basketball1.png"))
    people = page.locator("#people li")
    expect(people).to_have_count(2, timeout=30_000)
    expect(page.locator("#people-count")).to_have_text("2")
    expect(people.nth(0)).to_contain_text("Person 1")
    expect(people.nth(1)).to_contain_text("Person 2")
    canvas = page.locator("#overlay")
    expect(canvas).to_have_attribute("width", "640")
    expect(canvas).to_have_attribute("height", "480")
    # the skeletons are on the canvas: opaque pixels where nothing was before
    painted = page.evaluate("""() => {
        const c = document.getElementById('overlay');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }""")
    assert painted > 2000
    expect(page.locator("#download-json")).to_be_enabled()
    expect(page.locator("#timing")).to_contain_text("640 × 480")

    draws = int(canvas.get_attribute("data-draws"))
    before = [people.nth(i).locator(".meta").inner_text() for i in range(2)]
    slider = page.locator("#kpt-thresh")
    slider.focus()
    for _ in range(4):  # 0.30 -> 0.50 with the keyboard, as a person would
        page.keyboard.press("ArrowRight")
    expect(page.locator("#kpt-value")).to_have_text("0.50")
    assert int(canvas.get_attribute("data-draws")) > draws  # redrawn on the client, no new request
    after = [people.nth(i).locator(".meta").inner_text() for i in range(2)]
    assert after != before  # fewer keypoints pass the higher threshold

    shot = tmp_path / "serve.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000
    if os.environ.get("POSEKIT_SERVE_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["POSEKIT_SERVE_SCREENSHOT"])
    assert not page.problems, page.problems


def test_not_an_image_shows_the_reason(page, tmp_path: Path):
    text = tmp_path / "notes.png"
    text.write_text("this is not a picture\n" * 20)
    page.set_input_files("#file-input", str(text))
    banner = page.locator("#banner")
    sync_api.expect(banner).to_be_visible()
    sync_api.expect(banner).to_contain_text("not an image")
    page.problems[:] = [p for p in page.problems if "415" not in p]  # the refused upload's console line
    assert not page.problems, page.problems


def test_video_job_progress_and_result(page, videos: Path):
    expect = sync_api.expect
    page.click("#tab-video")
    page.set_input_files("#video-input", str(videos / "mmpose-demo.mp4"))
    expect(page.locator("#video-go")).to_be_enabled()
    page.click("#video-go")
    expect(page.locator("#video-result")).to_be_visible(timeout=60_000)
    expect(page.locator("#video-state")).to_contain_text("done: 5 frames")
    assert page.evaluate("() => document.getElementById('video-progress').value") == 1
    src = page.locator("#video-out").get_attribute("src")
    assert src and src.startswith("blob:")
    duration = page.evaluate("""() => new Promise((resolve) => {
        const v = document.getElementById('video-out');
        if (v.readyState >= 1) resolve(v.duration);
        v.addEventListener('loadedmetadata', () => resolve(v.duration));
        v.addEventListener('error', () => resolve(-1)); })""")
    assert duration != -1  # chromium can play the rendered WebM
    assert not page.problems, page.problems


def test_webcam_sends_frames_one_after_another(page):
    page.click("#tab-webcam")
    page.click("#cam-start")
    sync_api.expect(page.locator("#cam-rate")).to_contain_text("frames/s", timeout=30_000)
    sync_api.expect(page.locator("#timing")).to_contain_text("640 × 480")
    page.click("#cam-stop")
    sync_api.expect(page.locator("#cam-start")).to_be_enabled()
    assert not page.problems, page.problems


def test_api_docs_render_offline(page, live_server):
    """``/docs`` (Swagger UI) draws every operation from the server's own files: no CDN request."""
    page.goto(f"{live_server.url}/docs")
    sync_api.expect(page.locator(".opblock").first).to_be_visible(timeout=20_000)
    assert page.locator(".opblock").count() >= 9
    assert page.problems == [], page.problems
