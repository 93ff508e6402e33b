"""The API with the real ``fast`` preset: every endpoint's answer, and ``/v1/pose`` equal to ``posekit predict``."""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from posekit.cli import main as cli_main
from posekit.schema import COCO17


def _pose(client, data: bytes, **kwargs):
    return client.post("/v1/pose", files={"file": ("any name/../x.png", data, "image/png")}, **kwargs)


def test_health_ready_and_metrics(real_client):
    assert real_client.get("/healthz").json() == {"status": "ok"}
    ready = real_client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["ready"] is True and body["preset"] == "fast" and body["api_key_required"] is False
    assert body["limits"]["max_upload_bytes"] == 20 * 2**20 and body["limits"]["max_pixels"] == 50_000_000
    metrics = real_client.get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    for name in ("posekit_http_requests_total", "posekit_http_request_duration_seconds_bucket",
                 "posekit_inference_queue_depth", "posekit_images_processed_total", "posekit_jobs"):
        assert name in metrics.text


def test_pose_multipart_and_raw_body_agree(real_client, samples: Path):
    data = (samples / "basketball1.png").read_bytes()
    r1 = _pose(real_client, data)
    r2 = real_client.post("/v1/pose", content=data, headers={"Content-Type": "image/png"})
    assert r1.status_code == r2.status_code == 200
    a, b = r1.json(), r2.json()
    assert a["image"] == {"width": 640, "height": 480}
    assert len(a["people"]) == 2
    assert a["people"] == b["people"]
    assert a["keypoint_names"] == list(COCO17.keypoints)
    assert a["skeleton"] == [list(p) for p in COCO17.skeleton]
    assert a["model"]["preset"] == "fast"
    for person in a["people"]:
        assert len(person["box"]) == 4 and len(person["keypoints"]) == 17
        assert all(len(k) == 3 for k in person["keypoints"])
        assert 0 <= person["score"] <= 1 and 0 <= person["box_score"] <= 1
    assert {"total", "queue", "decode", "inference"} <= set(a["timing_ms"])
    assert a["people"][0]["score"] >= a["people"][1]["score"]


def test_pose_equals_posekit_predict(real_client, real_settings, samples: Path, tmp_path: Path):
    """Same image, same preset, same threads: the API's keypoints and scores are results.json's."""
    for name in ("basketball1.png", "person.jpg"):
        image = samples / name
        out = tmp_path / name
        code = cli_main(["-q", "predict", str(image), "--out", str(out), "--preset", "fast",
                         "--threads", str(real_settings.threads)])
        assert code == 0
        expected = json.loads((out / "results.json").read_text())
        api = _pose(real_client, image.read_bytes()).json()
        assert len(api["people"]) == len(expected) > 0
        for person, result in zip(api["people"], expected):
            assert [v for kp in person["keypoints"] for v in kp] == result["keypoints"]
            assert person["score"] == result["score"]


def test_exif_orientation_applied_like_predict(real_client, samples: Path):
    """A JPEG with EXIF orientation 6 is turned upright before inference (as posekit predict reads it)."""
    from posekit.io import decode_image

    img = cv2.imread(str(samples / "person.jpg"))
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(np.rot90(img, 1)))  # stored turned left...
    data = _with_orientation(buf.tobytes(), 6)  # ...and tagged "rotate 90 clockwise to view"
    assert decode_image(data).shape == img.shape
    body = real_client.post("/v1/pose", content=data, headers={"Content-Type": "image/jpeg"}).json()
    assert body["image"] == {"width": img.shape[1], "height": img.shape[0]}


def _with_orientation(jpeg: bytes, orientation: int) -> bytes:
    """A JPEG with an APP1 Exif segment holding only the Orientation tag."""
    import struct

    tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + struct.pack(">H", 1)
    tiff += struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    payload = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


@pytest.mark.parametrize("fmt, magic, mime", [("jpeg", b"\xff\xd8", "image/jpeg"), ("png", b"\x89PNG", "image/png")])
def test_render(real_client, samples: Path, fmt: str, magic: bytes, mime: str):
    data = (samples / "basketball1.png").read_bytes()
    r = real_client.post(f"/v1/pose/render?format={fmt}&keypoint_thresh=0.5", content=data,
                         headers={"Content-Type": "image/png"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == mime and r.content.startswith(magic)
    assert r.headers["x-people"] == "2"
    drawn = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
    original = cv2.imread(str(samples / "basketball1.png"))
    assert drawn.shape == original.shape
    assert np.abs(drawn.astype(int) - original.astype(int)).max() > 100  # skeletons were drawn


def test_openapi_docs_and_page(real_client):
    spec = real_client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in ("/v1/pose", "/v1/pose/render", "/v1/video", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/results.jsonl",
                 "/v1/jobs/{job_id}/video", "/healthz", "/readyz", "/metrics"):
        assert path in paths, path
    body = paths["/v1/pose"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in body and "image/jpeg" in body
    assert "503" in paths["/v1/pose"]["post"]["responses"]
    docs = real_client.get("/docs")  # Swagger UI from local files: works with no internet
    assert docs.status_code == 200 and "/static-offline-docs/swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text.lower() and "https://" not in docs.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert real_client.get(f"/static-offline-docs/{asset}").status_code == 200
    page = real_client.get("/")
    assert page.status_code == 200 and "posekit" in page.text
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    for asset, kind in (("app.js", "javascript"), ("style.css", "text/css")):
        r = real_client.get(f"/static/{asset}")
        assert r.status_code == 200 and kind in r.headers["content-type"]
    # no external resources anywhere in the page
    for text in (page.text, real_client.get("/static/app.js").text, real_client.get("/static/style.css").text):
        assert "http://" not in text and "https://" not in text


def test_video_job_with_real_models(real_client, videos: Path):
    data = (videos / "mmpose-demo.mp4").read_bytes()
    r = real_client.post("/v1/video", files={"file": ("clip.mp4", data, "video/mp4")})
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["location"] == f"/v1/jobs/{job['id']}"
    deadline = time.monotonic() + 60
    while job["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.2)
        job = real_client.get(f"/v1/jobs/{job['id']}").json()
    assert job["status"] == "done", job
    assert job["progress"] == {"frames_done": 5, "frames_total": 5, "fraction": 1.0}
    lines = real_client.get(job["links"]["results"]).text.strip().splitlines()
    frames = [json.loads(line) for line in lines]
    assert [f["frame"] for f in frames] == [0, 1, 2, 3, 4]
    assert any(f["poses"] for f in frames)
    video = real_client.get(job["links"]["video"])
    assert video.status_code == 200 and video.headers["content-type"] == "video/webm"
    assert video.content.startswith(b"\x1a\x45\xdf\xa3")  # Matroska/WebM
    assert "posekit_video_frames_processed_total 5.0" in real_client.get("/metrics").text
