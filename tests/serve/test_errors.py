"""Every error path of the image API: JSON ``{"error", "detail"}`` with the right status, never a traceback.

These apps use the fake estimator (instant, and able to block or fail on demand) and tight limits.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import threading
import time
import zlib
from collections.abc import Iterator

import cv2
import httpx
import numpy as np
import pytest

from posekit.serve.uploads import MULTIPART_OVERHEAD

KB = 1024


def _png(width: int = 64, height: int = 48) -> bytes:
    ok, buf = cv2.imencode(".png", np.full((height, width, 3), 120, np.uint8))
    return buf.tobytes()


def _jpeg(width: int = 64, height: int = 48) -> bytes:
    image = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(".jpg", image)
    return buf.tobytes()


def _png_bomb_header(width: int, height: int) -> bytes:
    """A PNG signature and IHDR announcing ``width x height`` (no pixel data needed to refuse it)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))


def _jpeg_bomb_header(width: int, height: int) -> bytes:
    """SOI and a baseline SOF0 segment announcing ``width x height``."""
    sof = struct.pack(">BHHB", 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8\xff\xc0" + struct.pack(">H", len(sof) + 2) + sof


def _assert_error(response, status: int, error: str | None = None, *words: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "detail"}, body
    if error is not None:
        assert body["error"] == error, body
    for word in words:
        assert word in body["detail"], body
    assert "Traceback" not in response.text
    return body


class Chunks:
    """A request body streamed in ``size``-byte chunks (no Content-Length); counts what the app took."""

    def __init__(self, total: int, size: int = 64 * KB, head: bytes = b"") -> None:
        self.total, self.size, self.head = total, size, head
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        if self.head:
            self.sent += len(self.head)
            yield self.head
        while self.sent < self.total:
            n = min(self.size, self.total - self.sent)
            self.sent += n
            yield b"\x00" * n

    async def __aiter__(self):
        for chunk in self:
            yield chunk


def _stream_post(app, path: str, body: Chunks, headers: dict[str, str]) -> httpx.Response:
    """POST ``body`` to the (started) app through httpx's ASGI transport, which hands the app one
    chunk at a time as it asks for them (the TestClient reads the whole body first)."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.post(path, content=body.__aiter__(), headers=headers)
            await response.aread()
            return response

    return asyncio.run(go())


# ----------------------------------------------------------------------------- bad content


def test_empty_body(make_client):
    client = make_client()
    _assert_error(client.post("/v1/pose", content=b"", headers={"Content-Type": "image/png"}), 400, "empty_body")
    _assert_error(client.post("/v1/pose", files={"file": ("x.png", b"", "image/png")}), 400, "empty_body")


@pytest.mark.parametrize("content_type", ["text/plain", "application/json", "video/mp4", "application/x-www-form-urlencoded"])
def test_wrong_content_type(make_client, content_type: str):
    body = _assert_error(make_client().post("/v1/pose", content=_png(), headers={"Content-Type": content_type}),
                         415, "unsupported_media_type", content_type, "multipart/form-data")
    assert "image/*" in body["detail"]


def test_missing_content_type(make_client):
    _assert_error(make_client().post("/v1/pose", content=_png()), 415, "unsupported_media_type", "missing Content-Type")


def test_text_file_is_not_an_image(make_client):
    client = make_client()
    text = b"name,score\nalice,1\n" * 10
    _assert_error(client.post("/v1/pose", content=text, headers={"Content-Type": "image/jpeg"}),
                  415, "not_an_image", "not an image")
    _assert_error(client.post("/v1/pose", files={"file": ("notes.txt", text, "text/plain")}),
                  415, "not_an_image", "not an image")


def test_truncated_jpeg(make_client):
    data = _jpeg(320, 240)
    body = _assert_error(make_client().post("/v1/pose", content=data[: len(data) // 2],
                                            headers={"Content-Type": "image/jpeg"}), 400, "truncated_image")
    assert "truncated JPEG" in body["detail"]


def test_corrupt_png(make_client):
    data = bytearray(_png(320, 240))
    data[60:200] = b"\x00" * 140  # pixel data destroyed, signature and end kept
    _assert_error(make_client().post("/v1/pose", content=bytes(data), headers={"Content-Type": "image/png"}),
                  400, None)


def test_octet_stream_and_odd_file_names_are_fine(make_client):
    client = make_client()
    assert client.post("/v1/pose", content=_png(), headers={"Content-Type": "application/octet-stream"}).status_code == 200
    r = client.post("/v1/pose", files={"file": ("../../etc/passwd\x00.png", _png(), "application/octet-stream")})
    assert r.status_code == 200 and r.json()["people"]


# ----------------------------------------------------------------------------- multipart


def test_multipart_without_file_field(make_client):
    _assert_error(make_client().post("/v1/pose", files={"image": ("x.png", _png(), "image/png")}),
                  400, "missing_file", "'file'")
    _assert_error(make_client().post("/v1/pose", data={"file": "not a file"}), 415, None)


def test_multipart_malformed(make_client):
    client = make_client()
    _assert_error(client.post("/v1/pose", content=b"--abc\r\ngarbage without headers end",
                              headers={"Content-Type": "multipart/form-data; boundary=xyz"}), 400)
    _assert_error(client.post("/v1/pose", content=b"x", headers={"Content-Type": "multipart/form-data"}),
                  400, "bad_multipart", "boundary")


# ----------------------------------------------------------------------------- sizes


def test_upload_limit_from_content_length(make_client):
    client = make_client(max_upload_bytes=100 * KB)
    data = _png() + b"\x00" * (200 * KB)
    _assert_error(client.post("/v1/pose", content=data, headers={"Content-Type": "image/png"}),
                  413, "payload_too_large", "Content-Length")
    files = {"file": ("x.png", data, "image/png")}
    _assert_error(client.post("/v1/pose", files=files), 413, "payload_too_large")


def test_upload_limit_enforced_while_reading(make_client):
    """A chunked body (no Content-Length) is cut off at the limit: the rest is never read."""
    client = make_client(max_upload_bytes=256 * KB)
    body = Chunks(total=8 * 1024 * KB, head=_png())
    _assert_error(_stream_post(client.app, "/v1/pose", body, {"Content-Type": "image/png"}),
                  413, "payload_too_large", "0.25 MB")
    assert body.sent < 512 * KB


def test_multipart_limit_enforced_while_reading(make_client):
    client = make_client(max_upload_bytes=256 * KB)
    boundary = b"BOUNDARY123"

    def stream() -> Iterator[bytes]:
        yield b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
        yield b"Content-Type: image/png\r\n\r\n" + _png()
        for _ in range(200):  # 12.5 MB of file data
            yield b"\x00" * (64 * KB)
        yield b"\r\n--" + boundary + b"--\r\n"

    class Body(Chunks):
        def __iter__(self) -> Iterator[bytes]:
            for chunk in stream():
                self.sent += len(chunk)
                yield chunk

    body = Body(0)
    r = _stream_post(client.app, "/v1/pose", body,
                     {"Content-Type": f"multipart/form-data; boundary={boundary.decode()}"})
    _assert_error(r, 413, "payload_too_large")
    assert body.sent < 256 * KB + MULTIPART_OVERHEAD + 128 * KB


@pytest.mark.parametrize("header", [_png_bomb_header(100_000, 100_000), _jpeg_bomb_header(60_000, 60_000)],
                         ids=["png", "jpeg"])
def test_decompression_bomb_header(make_client, fake, header: bytes):
    """A header announcing more than max_pixels is refused before decoding and before the rest arrives."""
    estimator = fake()
    client = make_client(estimator, max_pixels=50_000_000)
    body = Chunks(total=4 * 1024 * KB, head=header + b"\x00" * (70 * KB))
    r = _stream_post(client.app, "/v1/pose", body, {"Content-Type": "image/png"})
    detail = _assert_error(r, 413, "image_too_large", "MP", "50 MP")["detail"]
    assert "by its header" in detail
    assert body.sent < 1024 * KB and estimator.calls == 0


def test_small_pixel_limit(make_client):
    client = make_client(max_pixels=1000)
    _assert_error(client.post("/v1/pose", content=_png(64, 48), headers={"Content-Type": "image/png"}),
                  413, "image_too_large", "64x48")


# ----------------------------------------------------------------------------- routes and parameters


def test_unknown_route_wrong_method_bad_parameter(make_client):
    client = make_client()
    _assert_error(client.get("/v2/pose"), 404, "not_found", "/v2/pose")
    _assert_error(client.get("/v1/pose"), 405, "method_not_allowed", "GET")
    _assert_error(client.post("/v1/pose/render?format=gif", content=_png(), headers={"Content-Type": "image/png"}),
                  422, "validation_error", "format")
    _assert_error(client.post("/v1/pose/render?keypoint_thresh=2", content=_png(),
                              headers={"Content-Type": "image/png"}), 422, "validation_error", "keypoint_thresh")


def test_internal_error_is_json_and_logged(make_client, fake, caplog):
    client = make_client(fake(error=RuntimeError("secret internal state 0xdeadbeef")))
    with caplog.at_level(logging.ERROR, logger="posekit.serve"):
        r = client.post("/v1/pose", content=_png(), headers={"Content-Type": "image/png"})
    _assert_error(r, 500, "internal_error")
    assert "secret" not in r.text and "RuntimeError" not in r.text
    assert any(rec.exc_info and "secret internal state" in str(rec.exc_info[1]) for rec in caplog.records)
    metrics = client.get("/metrics").text
    assert 'posekit_http_requests_total{method="POST",route="/v1/pose",status="500"} 1.0' in metrics


# ----------------------------------------------------------------------------- overload


def _in_thread(fn) -> tuple[threading.Thread, list]:
    out: list = []
    thread = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    thread.start()
    return thread, out


def _wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_full_queue_answers_503_with_retry_after(make_client, fake):
    gate = threading.Event()
    client = make_client(fake(gate=gate), workers=1, queue_size=1)
    pool = client.app.state.pool
    post = lambda: client.post("/v1/pose", content=_png(), headers={"Content-Type": "image/png"})  # noqa: E731
    try:
        first, out1 = _in_thread(post)
        _wait_for(lambda: pool.busy == 1)
        second, out2 = _in_thread(post)
        _wait_for(lambda: pool.queue_depth == 1)
        r = post()
        _assert_error(r, 503, "busy", "retry after")
        assert int(r.headers["retry-after"]) >= 1
        metrics = client.get("/metrics").text
        assert "posekit_inference_queue_depth 1.0" in metrics and "posekit_inference_busy_workers 1.0" in metrics
        assert 'posekit_rejected_total{reason="busy"} 1.0' in metrics
    finally:
        gate.set()
    first.join(10)
    second.join(10)
    assert out1[0].status_code == 200 and out2[0].status_code == 200
    assert pool.slots.in_use == 0
    assert post().status_code == 200


def test_request_timeout_answers_503_and_frees_the_slot(make_client, fake):
    gate = threading.Event()
    client = make_client(fake(gate=gate), workers=1, queue_size=1, request_timeout=0.3)
    pool = client.app.state.pool
    try:
        r = client.post("/v1/pose", content=_png(), headers={"Content-Type": "image/png"})
        _assert_error(r, 503, "timeout", "0.3 s")
        assert int(r.headers["retry-after"]) >= 1
        assert pool.slots.in_use == 1  # the image is still being processed: its slot stays taken
    finally:
        gate.set()
    _wait_for(lambda: pool.slots.in_use == 0)
    assert 'posekit_rejected_total{reason="timeout"} 1.0' in client.get("/metrics").text


def test_not_ready_until_models_loaded(make_client, fake):
    loaded = threading.Event()

    def slow_factory():
        loaded.wait(10)
        return fake()

    client = make_client(factory=slow_factory, wait=False)
    try:
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["ready"] is False
        assert ready.json()["error"] == "not_ready" and ready.json()["detail"] == "models are loading"
        r = client.post("/v1/pose", content=_png(), headers={"Content-Type": "image/png"})
        _assert_error(r, 503, "not_ready", "loading")
        assert "retry-after" in r.headers
    finally:
        loaded.set()
    assert client.app.state.pool.wait_ready(10) and client.app.state.jobs.wait_ready(10)
    assert client.get("/readyz").status_code == 200


def test_model_loading_failure_is_reported(make_client):
    def broken():
        raise FileNotFoundError("model file pose.onnx not found in /nowhere")

    client = make_client(factory=broken, wait=False)
    client.app.state.pool.wait_ready(10)
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert "model loading failed" in ready.json()["detail"] and "pose.onnx" in ready.json()["detail"]
    _assert_error(client.post("/v1/pose", content=_png(), headers={"Content-Type": "image/png"}), 503, "not_ready")


# ----------------------------------------------------------------------------- API key


def test_api_key(make_client, monkeypatch):
    import posekit.serve.app as app_module

    compared = []
    real = app_module.hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(app_module.hmac, "compare_digest", spy)
    client = make_client(api_key="s3cret-key")
    png = {"Content-Type": "image/png"}
    body = _assert_error(client.post("/v1/pose", content=_png(), headers=png), 401, "unauthorized", "X-API-Key")
    r = client.post("/v1/pose", content=_png(), headers={**png, "X-API-Key": "wrong"})
    _assert_error(r, 401, "unauthorized", "wrong API key")
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert "s3cret" not in body["detail"] and "s3cret" not in r.text
    assert client.post("/v1/pose", content=_png(), headers={**png, "X-API-Key": "s3cret-key"}).status_code == 200
    assert client.post("/v1/pose", content=_png(),
                       headers={**png, "Authorization": "Bearer s3cret-key"}).status_code == 200
    _assert_error(client.post("/v1/pose", content=_png(), headers={**png, "Authorization": "Basic s3cret-key"}), 401)
    _assert_error(client.get("/v1/jobs/00000000-0000-4000-8000-000000000000"), 401)
    assert compared and all(b == b"s3cret-key" for _, b in compared)
    # the service endpoints and the page stay open
    for path in ("/healthz", "/readyz", "/metrics", "/", "/openapi.json"):
        assert client.get(path).status_code == 200, path
    assert client.get("/readyz").json()["api_key_required"] is True
    spec = client.get("/openapi.json").json()
    assert {"APIKeyHeader", "HTTPBearer"} <= set(spec["components"]["securitySchemes"])


def test_no_cors_unless_asked(make_client):
    client = make_client()
    r = client.get("/healthz", headers={"Origin": "https://elsewhere.example"})
    assert "access-control-allow-origin" not in r.headers
    client = make_client(cors_origins=("https://app.example",))
    r = client.get("/healthz", headers={"Origin": "https://app.example"})
    assert r.headers["access-control-allow-origin"] == "https://app.example"
    r = client.get("/healthz", headers={"Origin": "https://elsewhere.example"})
    assert "access-control-allow-origin" not in r.headers
    pre = client.options("/v1/pose", headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST",
                                              "Access-Control-Request-Headers": "x-api-key"})
    assert pre.status_code == 200 and "POST" in pre.headers["access-control-allow-methods"]
