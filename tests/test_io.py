"""Tests for posekit.io: safe image reading, input expansion and image ids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from image_cases import BAD, make_image_folder

from posekit.io import ImageReadError, find_images, image_ids_for, read_image


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory, shared_dir) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("images")
    good = make_image_folder(folder, shared_dir / "data" / "samples")
    return folder, good


def test_read_good_images_as_bgr_uint8(image_folder):
    folder, good = image_folder
    for name, shape in good.items():
        img = read_image(folder / name)
        assert img.dtype == np.uint8, name
        assert img.shape == (*shape, 3), name


def test_read_converts_16bit_rgba_and_gray(image_folder):
    folder, _ = image_folder
    np.testing.assert_array_equal(read_image(folder / "deep16.png")[0, 0], [0x12, 0x12, 0x12])
    np.testing.assert_array_equal(read_image(folder / "rgba.png")[5, 5], [10, 20, 30])
    np.testing.assert_array_equal(read_image(folder / "gray.png")[7, 3], [77, 77, 77])
    np.testing.assert_array_equal(read_image(folder / "tiny.png"), [[[200, 200, 200]]])


@pytest.mark.parametrize("name", sorted(BAD))
def test_read_bad_images_raise_with_reason(image_folder, name):
    folder, _ = image_folder
    with pytest.raises(ImageReadError) as info:
        read_image(folder / name)
    err = info.value
    assert BAD[name] in err.reason.lower()
    assert err.path == str(folder / name)
    assert name in str(err)


def test_read_missing_file(tmp_path):
    with pytest.raises(ImageReadError, match="not found"):
        read_image(tmp_path / "nope.jpg")


def test_image_read_error_is_a_value_error():
    assert issubclass(ImageReadError, ValueError)


# ----------------------------------------------------------------------------- find_images


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_find_images_folder_natural_sort_and_extensions(tmp_path):
    for name in ("img10.png", "img2.png", "IMG1.JPG", "b.webp", "notes.txt", "a.tiff"):
        _touch(tmp_path / name)
    _touch(tmp_path / "sub" / "img3.png")
    found = [p.name for p in find_images([tmp_path])]
    assert found == ["a.tiff", "b.webp", "IMG1.JPG", "img2.png", "img10.png"]
    rec = find_images([tmp_path], recursive=True)
    assert [p.name for p in rec] == found + ["img3.png"]


def test_find_images_globs_files_and_dedupe(tmp_path):
    a = _touch(tmp_path / "x1.png")
    _touch(tmp_path / "x20.png")
    _touch(tmp_path / "x3.jpg")
    odd = _touch(tmp_path / "data.bin")
    found = find_images([str(tmp_path / "*.png"), a, odd, tmp_path])
    names = [p.name for p in found]
    assert names == ["data.bin", "x1.png", "x3.jpg", "x20.png"]  # explicit file kept whatever its extension
    assert len(set(p.resolve() for p in found)) == len(found)


def test_find_images_missing_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing"):
        find_images([tmp_path / "missing"])
    assert find_images([str(tmp_path / "*.png")]) == []  # a glob that matches nothing is not an error
    assert find_images([tmp_path]) == []


def test_image_ids_for_coco_names():
    paths = [Path("d/000000000885.jpg"), Path("d/000000001000.jpg")]
    assert image_ids_for(paths) == {paths[0]: 885, paths[1]: 1000}


@pytest.mark.parametrize(
    "names",
    [
        ["000000000885.jpg", "photo.jpg"],  # not all numeric
        ["1.jpg", "001.png"],  # numeric but colliding
    ],
)
def test_image_ids_for_falls_back_to_index(names):
    paths = [Path(n) for n in names]
    assert image_ids_for(paths) == {paths[0]: 1, paths[1]: 2}
