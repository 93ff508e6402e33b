"""The job log: committed lines, torn lines ignored, later records win (posekit.batch.records)."""

from __future__ import annotations

import json

from posekit.batch.records import RecordLog, has_records, scan_records


def _rec(key, size=1, status="ok", **extra):
    return {"key": key, "size": size, "mtime_ns": 5, "status": status, **extra}


def test_records_round_trip_and_each_run_gets_its_own_shard(tmp_path):
    assert not has_records(tmp_path)
    with RecordLog(tmp_path) as log:
        log.append(_rec("a.jpg", extra=[1.5, 2]))
        log.append(_rec("b.jpg", status="error", error="truncated JPEG file"))
    with RecordLog(tmp_path) as log2:
        log2.append(_rec("a.jpg", size=2))  # the file changed and was redone
    assert log.path != log2.path and has_records(tmp_path)
    index = scan_records(tmp_path)
    assert len(index) == 2 and index.torn == 0
    assert index.is_done("a.jpg", 2, 5) and not index.is_done("a.jpg", 1, 5)
    assert index.load("b.jpg")["error"] == "truncated JPEG file"
    assert [r["key"] for r in index.iter_records(["b.jpg", "a.jpg"])] == ["b.jpg", "a.jpg"]


def test_no_shard_until_the_first_record(tmp_path):
    with RecordLog(tmp_path) as log:
        pass
    assert log.path is None and not has_records(tmp_path)


def test_torn_and_corrupt_lines_are_ignored(tmp_path):
    with RecordLog(tmp_path) as log:
        log.append(_rec("a.jpg"))
        log.append(_rec("b.jpg"))
    line = (json.dumps(_rec("c.jpg")) + "\n").encode()
    with open(log.path, "ab") as f:
        f.write(b'{"key": "d.jpg", "size"\n')    # corrupt but newline-terminated
        f.write(b'{"not": "a record"}\n')        # valid JSON, not a record
        f.write(line[: len(line) // 2])         # cut short by a crash: no newline
    index = scan_records(tmp_path)
    assert sorted(index.keys()) == ["a.jpg", "b.jpg"]
    assert index.torn == 3


def test_unicode_and_undecodable_keys_round_trip(tmp_path):
    keys = ["caf\udce9.jpg", "日本/写真.png", 'quote".jpg']
    with RecordLog(tmp_path) as log:
        for k in keys:
            log.append(_rec(k))
    assert sorted(scan_records(tmp_path).keys()) == sorted(keys)
