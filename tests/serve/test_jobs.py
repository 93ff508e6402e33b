"""Video jobs: 202 + id, progress, results, rendered video, limits, bounded queue, deletion, TTL."""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest

import testdata


def _assert_error(response, status: int, error: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "detail"}, body
    if error is not None:
        assert body["error"] == error, body
    return body


def _wait(client, job_id: str, statuses=("done", "failed", "cancelled"), timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job.get("status") in statuses:
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.05)


@pytest.fixture(scope="module")
def clip() -> bytes:
    """5 frames, 960x540, 5 fps (1 s)."""
    return testdata.DEMO_VIDEO.read_bytes()


def test_job_lifecycle(make_client, clip: bytes):
    client = make_client()
    root = client.app.state.jobs.root
    r = client.post("/v1/video?detect_every=2", files={"file": ("../../evil name.mp4", clip, "video/mp4")})
    assert r.status_code == 202, r.text
    job = r.json()
    uuid.UUID(job["id"])
    assert job["status"] in ("queued", "running", "done") and job["detect_every"] == 2
    assert job["video"] == {"width": 960, "height": 540, "fps": 5.0, "frames": 5, "duration_s": 1.0}
    job = _wait(client, job["id"])
    assert job["status"] == "done" and job["error"] is None and not job["truncated"]
    assert job["progress"] == {"frames_done": 5, "frames_total": 5, "fraction": 1.0}
    assert job["expires_at"] and job["finished_at"]
    assert set(job["links"]) == {"self", "results", "video"}
    results = client.get(f"/v1/jobs/{job['id']}/results.jsonl")
    assert results.status_code == 200 and results.headers["content-type"].startswith("application/x-ndjson")
    frames = [json.loads(line) for line in results.text.splitlines()]
    assert len(frames) == 5 and all(len(f["poses"]) == 1 for f in frames)
    assert frames[0]["poses"][0]["keypoints"][0][2] == 0.8
    video = client.get(f"/v1/jobs/{job['id']}/video")
    assert video.status_code == 200 and video.headers["content-type"] == "video/webm" and len(video.content) > 1000
    # only server-chosen names on disk; the upload is gone once the job ended
    assert sorted(p.name for p in (root / job["id"]).iterdir()) == ["rendered.webm", "results.jsonl"]
    assert [p.name for p in root.iterdir()] == [job["id"]]
    assert client.delete(f"/v1/jobs/{job['id']}").status_code == 204
    _assert_error(client.get(f"/v1/jobs/{job['id']}"), 404, "job_not_found")
    assert not (root / job["id"]).exists()


def test_raw_body_and_jobs_root_removed_at_shutdown(make_client, clip: bytes):
    client = make_client()
    root = client.app.state.jobs.root
    r = client.post("/v1/video", content=clip, headers={"Content-Type": "video/mp4"})
    assert r.status_code == 202
    assert _wait(client, r.json()["id"])["status"] == "done"
    client.__exit__(None, None, None)  # lifespan shutdown
    assert not root.exists()


@pytest.mark.parametrize("job_id", ["not-a-uuid", "..%2F..%2Fetc%2Fpasswd", str(uuid.uuid4())])
def test_unknown_job_ids(make_client, job_id: str):
    client = make_client()
    for suffix in ("", "/results.jsonl", "/video"):
        _assert_error(client.get(f"/v1/jobs/{job_id}{suffix}"), 404)
    _assert_error(client.delete(f"/v1/jobs/{job_id}"), 404)


def test_bad_uploads(make_client, clip: bytes):
    client = make_client(max_video_bytes=150 * 1024)
    _assert_error(client.post("/v1/video", content=b"", headers={"Content-Type": "video/mp4"}), 400, "empty_body")
    _assert_error(client.post("/v1/video", content=b"hello, not a video" * 100, headers={"Content-Type": "video/mp4"}),
                  415, "not_a_video")
    _assert_error(client.post("/v1/video", content=clip, headers={"Content-Type": "image/png"}),
                  415, "unsupported_media_type")
    fake_avi = b"RIFF\x00\x10\x00\x00AVI LIST" + b"\x00" * 4000
    _assert_error(client.post("/v1/video", content=fake_avi, headers={"Content-Type": "video/x-msvideo"}),
                  415, "bad_video")
    _assert_error(client.post("/v1/video", content=clip, headers={"Content-Type": "video/mp4"}), 413,
                  "payload_too_large")
    _assert_error(client.post("/v1/video?detect_every=0", content=clip, headers={"Content-Type": "video/mp4"}),
                  422, "validation_error")
    assert list(client.app.state.jobs.root.iterdir()) == []  # refused uploads leave nothing behind
    assert client.app.state.jobs.slots.in_use == 0


def test_duration_and_frame_size_limits(make_client, clip: bytes):
    client = make_client(max_video_seconds=0.5)
    body = _assert_error(client.post("/v1/video", content=clip, headers={"Content-Type": "video/mp4"}),
                         413, "video_too_long")
    assert "1.0 s" in body["detail"] and "0.5 s" in body["detail"]
    client = make_client(max_pixels=100_000)
    body = _assert_error(client.post("/v1/video", content=clip, headers={"Content-Type": "video/mp4"}),
                         413, "video_too_large")
    assert "960x540" in body["detail"]


def test_bounded_job_queue_409_and_cancel(make_client, fake, clip: bytes):
    gate = threading.Event()
    client = make_client(fake(gate=gate), job_queue=0)
    jobs = client.app.state.jobs
    try:
        first = client.post("/v1/video", content=clip, headers={"Content-Type": "video/mp4"}).json()
        _wait(client, first["id"], statuses=("running",))
        r = client.post("/v1/video", content=clip, headers={"Content-Type": "video/mp4"})
        _assert_error(r, 503, "busy")
        assert int(r.headers["retry-after"]) >= 1
        _assert_error(client.get(f"/v1/jobs/{first['id']}/results.jsonl"), 409, "job_not_finished")
        _assert_error(client.get(f"/v1/jobs/{first['id']}/video"), 409, "job_not_finished")
        assert client.delete(f"/v1/jobs/{first['id']}").status_code == 204
    finally:
        gate.set()
    deadline = time.monotonic() + 10
    while jobs.slots.in_use and time.monotonic() < deadline:
        time.sleep(0.02)
    assert jobs.slots.in_use == 0 and list(jobs.root.iterdir()) == []
    assert client.post("/v1/video", content=clip, headers={"Content-Type": "video/mp4"}).status_code == 202


def test_job_timeout_keeps_partial_results(make_client, fake, clip: bytes):
    client = make_client(fake(delay=0.15), job_timeout=0.2)
    job = client.post("/v1/video", content=clip, headers={"Content-Type": "video/mp4"}).json()
    job = _wait(client, job["id"])
    assert job["status"] == "failed" and "timeout" in job["error"]
    assert 0 < job["progress"]["frames_done"] < 5
    lines = client.get(f"/v1/jobs/{job['id']}/results.jsonl").text.splitlines()
    assert len(lines) == job["progress"]["frames_done"]


def test_finished_jobs_expire_after_ttl(make_client, clip: bytes):
    client = make_client(job_ttl=0.3)
    job = client.post("/v1/video", content=clip, headers={"Content-Type": "video/mp4"}).json()
    _wait(client, job["id"])
    folder = client.app.state.jobs.root / job["id"]
    deadline = time.monotonic() + 5
    while folder.exists() and time.monotonic() < deadline:  # the janitor deletes it
        time.sleep(0.05)
    assert not folder.exists()
    _assert_error(client.get(f"/v1/jobs/{job['id']}"), 404, "job_not_found")


def test_oldest_finished_job_goes_beyond_the_cap(make_client, clip: bytes):
    client = make_client(max_finished_jobs=1)
    ids = []
    for _ in range(2):
        job = client.post("/v1/video", content=clip, headers={"Content-Type": "video/mp4"}).json()
        _wait(client, job["id"])
        ids.append(job["id"])
    client.get("/healthz")
    assert client.get(f"/v1/jobs/{ids[1]}").status_code == 200
    _assert_error(client.get(f"/v1/jobs/{ids[0]}"), 404)
    counts = client.get("/metrics").text
    assert 'posekit_jobs{status="done"} 1.0' in counts
