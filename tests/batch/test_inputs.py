"""Which images a job covers, and their keys (posekit.batch.inputs)."""

from __future__ import annotations

import csv
import os

import pytest

from posekit.batch.inputs import collect_inputs, display_name


def _touch(path, data=b"\xff\xd8 not really\xff\xd9"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_folder_keys_are_relative_paths_and_sorted_naturally(tmp_path):
    for rel in ["a/img10.jpg", "a/img2.jpg", "b/img1.jpg", "top.png", "notes.txt"]:
        _touch(tmp_path / "in" / rel)
    flat = collect_inputs([tmp_path / "in"])
    assert [it.key for it in flat] == ["top.png"]
    items = collect_inputs([tmp_path / "in"], recursive=True)
    assert [it.key for it in items] == ["top.png", "a/img2.jpg", "a/img10.jpg", "b/img1.jpg"]
    assert all(it.size > 0 and it.mtime_ns > 0 and it.error is None for it in items)


def test_two_folders_with_the_same_names_get_distinct_keys(tmp_path):
    _touch(tmp_path / "a" / "1.jpg")
    _touch(tmp_path / "b" / "1.jpg")
    items = collect_inputs([tmp_path / "a", tmp_path / "b"])
    assert [it.key for it in items] == ["a/1.jpg", "b/1.jpg"]


def test_list_file_csv_and_parquet_manifests_and_globs(tmp_path):
    files = [_touch(tmp_path / "imgs" / f"{i}.jpg") for i in range(4)]
    listing = tmp_path / "list.txt"
    listing.write_text("# my images\nimgs/0.jpg\n\n" + str(files[1]) + "\n")
    manifest = tmp_path / "m.csv"
    with open(manifest, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label"])
        w.writerow(["imgs/2.jpg", "x"])
    keys = [it.key for it in collect_inputs([f"@{listing}", manifest, str(tmp_path / "imgs" / "[3].jpg")])]
    assert keys == ["0.jpg", "1.jpg", "2.jpg", "3.jpg"]

    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"path": [str(files[3]), "imgs/0.jpg"]}), tmp_path / "m.parquet")
    assert [it.key for it in collect_inputs([tmp_path / "m.parquet"])] == ["0.jpg", "3.jpg"]

    bad = tmp_path / "bad.csv"
    bad.write_text("file\nimgs/0.jpg\n")
    with pytest.raises(ValueError, match="path"):
        collect_inputs([bad])


def test_missing_input_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        collect_inputs([tmp_path / "nope"])


@pytest.mark.skipif(os.name != "posix", reason="POSIX symlinks and byte file names")
def test_symlink_loop_dir_named_like_an_image_and_undecodable_name(tmp_path):
    root = tmp_path / "in"
    _touch(root / "ok.jpg")
    (root / "loop").symlink_to(root)            # a folder symlink loop
    (root / "self.jpg").symlink_to(root / "self.jpg")  # a file symlink loop
    _touch(root / "x.jpg" / "inside.jpg")       # a folder named like an image
    raw = os.fsencode(str(root)) + b"/caf\xe9.jpg"
    with open(raw, "wb") as f:
        f.write(b"data")
    items = {it.key: it for it in collect_inputs([root], recursive=True)}
    assert set(items) == {"ok.jpg", "self.jpg", "caf\udce9.jpg", "x.jpg/inside.jpg", "loop"}
    assert items["loop"].error and "symlink loop" in items["loop"].error
    assert items["self.jpg"].error and "cannot read" in items["self.jpg"].error
    assert items["caf\udce9.jpg"].error is None and items["caf\udce9.jpg"].size == 4
    assert display_name("caf\udce9.jpg") == "caf\\xe9.jpg"
