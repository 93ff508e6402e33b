"""Tests for posekit.io: safe image reading (EXIF orientation), input expansion, image ids,
natural sort, sha256 and atomic writes; and one reader across predict, frame folders and training."""

from __future__ import annotations

import hashlib
import json
import stat
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import testdata
from image_cases import BAD, make_image_folder

from posekit.io import (
    ImageReadError,
    apply_exif_orientation,
    atomic_open,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    decode_image,
    exif_orientation,
    find_images,
    image_ids_for,
    natural_key,
    read_image,
    sha256_file,
    sniff_video,
)
from posekit.runtime import Device
from posekit.schema import COCO17
from posekit.structures import Poses
from posekit.timing import StageTimer


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("images")
    good = make_image_folder(folder)
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


# ----------------------------------------------------------------------------- EXIF orientation


def _exif_block(orientation: int, order: str = ">", kind: int = 3) -> bytes:
    """A TIFF-structured EXIF block whose IFD0 holds one Orientation (0x0112) entry."""
    head = (b"MM" if order == ">" else b"II") + struct.pack(order + "HI", 42, 8)
    value = struct.pack(order + "HH", orientation, 0) if kind == 3 else struct.pack(order + "I", orientation)
    entry = struct.pack(order + "HHI", 0x0112, kind, 1) + value
    return head + struct.pack(order + "H", 1) + entry + struct.pack(order + "I", 0)


def _jpeg_with_exif(image: np.ndarray, orientation: int, order: str = ">", quality: int = 95) -> bytes:
    """``image`` as a JPEG carrying an ``APP1 Exif`` segment right after SOI."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    payload = b"Exif\x00\x00" + _exif_block(orientation, order)
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    data = buf.tobytes()
    return data[:2] + app1 + data[2:]


def _jpeg_bytes_with_exif(jpeg: bytes, orientation: int) -> bytes:
    payload = b"Exif\x00\x00" + _exif_block(orientation)
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def _png_with_exif(image: np.ndarray, orientation: int, order: str = ">") -> bytes:
    """``image`` as a PNG with an ``eXIf`` chunk after IHDR."""
    ok, buf = cv2.imencode(".png", image)
    assert ok
    data = buf.tobytes()
    block = _exif_block(orientation, order)
    chunk = struct.pack(">I", len(block)) + b"eXIf" + block + struct.pack(">I", zlib.crc32(b"eXIf" + block))
    return data[:33] + chunk + data[33:]  # 8-byte signature + 25-byte IHDR chunk


def _webp_with_exif(image: np.ndarray, orientation: int, order: str = ">") -> bytes:
    """``image`` as a lossless extended WebP (VP8X + image + EXIF chunks)."""
    ok, buf = cv2.imencode(".webp", image, [cv2.IMWRITE_WEBP_QUALITY, 101])
    assert ok
    data = buf.tobytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    h, w = image.shape[:2]
    vp8x = b"VP8X" + struct.pack("<I", 10) + bytes([0x08, 0, 0, 0]) + (w - 1).to_bytes(3, "little") + (
        h - 1).to_bytes(3, "little")
    block = _exif_block(orientation, order)
    exif = b"EXIF" + struct.pack("<I", len(block)) + block + (b"\x00" if len(block) % 2 else b"")
    body = b"WEBP" + vp8x + data[12:] + exif
    return b"RIFF" + struct.pack("<I", len(body)) + body


ENCODERS = {"jpeg": _jpeg_with_exif, "png": _png_with_exif, "webp": _webp_with_exif}


def _marked(h: int = 40, w: int = 80) -> np.ndarray:
    """A smooth ``(h, w, 3)`` image with a red top-left block (survives JPEG)."""
    img = np.zeros((h, w, 3), np.uint8)
    img[:, :, 1] = np.linspace(0, 200, w, dtype=np.uint8)[None]
    img[: h // 4, : w // 4] = (0, 0, 255)
    return img


def _red_corner(img: np.ndarray) -> tuple[int, int]:
    """(row, col) of the red block's corner nearest the image corner it sits in."""
    ys, xs = np.nonzero((img[:, :, 2] > 200) & (img[:, :, 0] < 60))
    h, w = img.shape[:2]
    return (0 if ys.min() == 0 else h - 1), (0 if xs.min() == 0 else w - 1)


@pytest.mark.parametrize("fmt", sorted(ENCODERS))
@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("order", [">", "<"])
def test_exif_orientation_applied_by_default_and_ignored_on_request(fmt, orientation, order):
    image = _marked()
    data = ENCODERS[fmt](image, orientation, order)
    assert exif_orientation(data) == orientation
    stored = decode_image(data, ignore_orientation=True)
    shown = decode_image(data)
    assert stored.shape == (40, 80, 3)
    assert shown.shape == ((80, 40, 3) if orientation >= 5 else (40, 80, 3))
    np.testing.assert_array_equal(shown, apply_exif_orientation(stored, orientation))
    assert shown.dtype == np.uint8 and shown.flags.c_contiguous
    if fmt != "jpeg":
        np.testing.assert_array_equal(stored, image)  # lossless: ignoring means the stored pixels
    # where a viewer shows the stored top-left corner
    expected = {1: (0, 0), 2: (0, 1), 3: (1, 1), 4: (1, 0), 5: (0, 0), 6: (0, 1), 7: (1, 1), 8: (1, 0)}[orientation]
    h, w = shown.shape[:2]
    assert _red_corner(shown) == (expected[0] * (h - 1), expected[1] * (w - 1))


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_opencv(fmt, orientation):
    """Same pixels as OpenCV's own EXIF handling (IMREAD_COLOR applies it, IGNORE_ORIENTATION not)."""
    image = np.random.default_rng(orientation).integers(0, 256, (24, 36, 3), dtype=np.uint8)
    data = ENCODERS[fmt](image, orientation)
    buf = np.frombuffer(data, np.uint8)
    np.testing.assert_array_equal(decode_image(data), cv2.imdecode(buf, cv2.IMREAD_COLOR))
    np.testing.assert_array_equal(
        decode_image(data, ignore_orientation=True),
        cv2.imdecode(buf, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION),
    )


def test_apply_exif_orientation_is_the_viewer_transform():
    img = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    np.testing.assert_array_equal(apply_exif_orientation(img, 1), img)
    np.testing.assert_array_equal(apply_exif_orientation(img, 2), img[:, ::-1])
    np.testing.assert_array_equal(apply_exif_orientation(img, 3), np.rot90(img, 2))
    np.testing.assert_array_equal(apply_exif_orientation(img, 4), img[::-1])
    np.testing.assert_array_equal(apply_exif_orientation(img, 5), img.transpose(1, 0, 2))
    np.testing.assert_array_equal(apply_exif_orientation(img, 6), np.rot90(img, -1))  # 90° clockwise
    np.testing.assert_array_equal(apply_exif_orientation(img, 7), np.rot90(img, 2).transpose(1, 0, 2))
    np.testing.assert_array_equal(apply_exif_orientation(img, 8), np.rot90(img, 1))  # 90° counter-clockwise
    np.testing.assert_array_equal(apply_exif_orientation(img[:, :, 0], 6), np.rot90(img[:, :, 0], -1))
    assert apply_exif_orientation(img, 9) is img


def test_read_image_file_with_orientation_6(tmp_path):
    path = tmp_path / "phone photo ü.jpg"  # odd characters: bytes are read with Python I/O
    path.write_bytes(_jpeg_with_exif(_marked(), 6))
    assert read_image(path).shape == (80, 40, 3)
    assert read_image(path, ignore_orientation=True).shape == (40, 80, 3)


def test_orientation_of_16bit_and_gray_png():
    deep = np.full((30, 50, 3), 0x1234, np.uint16)
    shown = decode_image(_png_with_exif(deep, 8))
    assert shown.shape == (50, 30, 3) and shown.dtype == np.uint8
    np.testing.assert_array_equal(shown[0, 0], [0x12, 0x12, 0x12])
    gray = np.full((30, 50), 77, np.uint8)
    assert decode_image(_png_with_exif(gray, 6)).shape == (50, 30, 3)


def test_malformed_exif_counts_as_upright():
    image = _marked()
    ok, buf = cv2.imencode(".jpg", image)
    jpeg = buf.tobytes()

    def with_app1(payload: bytes, declared: int | None = None) -> bytes:
        length = len(payload) + 2 if declared is None else declared
        return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", length) + payload + jpeg[2:]

    block = _exif_block(6)
    cases = [
        with_app1(b"Exif\x00\x00" + block[:12]),  # IFD cut short
        with_app1(b"Exif\x00\x00" + block[:4]),  # header only
        with_app1(b"Exif\x00\x00XX" + block[2:]),  # bad byte order
        with_app1(b"Exif\x00\x00" + block[:2] + b"\x00\x2b" + block[4:]),  # bad magic
        with_app1(b"Exif\x00\x00" + block[:4] + b"\xff\xff\xff\xff" + block[8:]),  # IFD offset past the end
        with_app1(b"Exif\x00\x00" + _exif_block(9)),  # out of range
        with_app1(b"Exif\x00\x00" + _exif_block(0)),
        with_app1(b"Exif\x00\x00" + _exif_block(6, kind=2)),  # wrong type (ASCII)
        with_app1(b"Exif\x00\x00" + block, declared=1),  # impossible segment length
        with_app1(b"http://ns.adobe.com/xap/1.0/\x00<x/>"),  # XMP, not EXIF
    ]
    for data in cases:
        assert exif_orientation(data) == 1
    assert exif_orientation(with_app1(b"Exif\x00\x00" + _exif_block(6, kind=4))) == 6  # LONG is tolerated
    assert exif_orientation(with_app1(b"Exif\x00\x00" + block[:8] + b"\xff\xff" + block[10:])) == 6  # count too big
    assert exif_orientation(b"") == 1 and exif_orientation(b"BM" + b"\x00" * 60) == 1


def test_truncated_and_bad_images_still_reported_with_exif(tmp_path):
    data = _jpeg_with_exif(_marked(), 6)
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match="truncated JPEG"):
        read_image(tmp_path / "cut.jpg")
    with pytest.raises(ImageReadError, match="empty"):
        decode_image(b"", source="upload.jpg")
    with pytest.raises(ImageReadError, match="is a directory"):
        read_image(tmp_path)


# ----------------------------------------------------------------------------- one reader everywhere


class _RecordingEstimator:
    """Stands in for PoseEstimator in ``posekit predict``: records the images it is given."""

    def __init__(self) -> None:
        self.images: list[np.ndarray] = []
        self.timer = StageTimer()

    def __call__(self, image: np.ndarray) -> Poses:
        self.images.append(image)
        return Poses.empty()

    #: a stand-in cannot build replicas: the engine runs it on the one-worker path
    replicable = False
    #: and runs on the CPU: the CPU plan
    device = Device.parse("cpu")

    def predict_files(self, paths, *, prefetch: int = 4, ignore_orientation: bool = False, workers=None,
                      threads=None):
        """The real folder loop (reading, error handling) around this stand-in's ``__call__``."""
        from posekit.pipeline import PoseEstimator

        return PoseEstimator.predict_files(self, paths, prefetch=prefetch, ignore_orientation=ignore_orientation,
                                           workers=workers, threads=threads)

    def __repr__(self) -> str:
        return "RecordingEstimator()"


@pytest.mark.parametrize("ignore", [False, True])
def test_exif_rotated_photo_same_frame_in_predict_frames_and_training(tmp_path, monkeypatch, ignore):
    """The same EXIF-rotated photo is the same image through `posekit predict` on a folder,
    a frame-folder source and the training datasets (orientation applied by default,
    stored pixels with --ignore-exif / ignore_orientation / data.ignore_exif)."""
    from posekit.cli import main
    from posekit.cli import predict as predict_cli
    from posekit.spec import PoseModelSpec
    from posekit.train.config import AugmentConfig
    from posekit.train.dataset import KeypointDataset, PersonCropDataset, PersonRecord
    from posekit.video.sources import ImageFolderSource, open_source

    jpeg = testdata.PERSON_IMAGE.read_bytes()
    stored_hw = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape[:2]
    assert stored_hw[0] != stored_hw[1]
    folder = tmp_path / "photos"
    folder.mkdir()
    photo = folder / "000000000007.jpg"
    photo.write_bytes(_jpeg_bytes_with_exif(jpeg, 6))
    expected_hw = stored_hw if ignore else stored_hw[::-1]

    # (a) posekit predict on the folder
    est = _RecordingEstimator()
    monkeypatch.setattr(predict_cli, "estimator_from_args", lambda args: est)
    argv = ["predict", str(folder), "--out", str(tmp_path / "out"), "-q"] + (["--ignore-exif"] if ignore else [])
    assert main(argv) == 0
    assert len(est.images) == 1
    via_predict = est.images[0]

    # (b) the frame-folder source (open_source and the class)
    with open_source(folder, ignore_orientation=ignore) as src:
        assert isinstance(src, ImageFolderSource)
        assert (src.info.height, src.info.width) == tuple(expected_hw)
        via_frames = [frame.image for frame in src]
    assert len(via_frames) == 1

    # (c) the training datasets with the same option
    record = PersonRecord(image_id=7, image_path=str(photo), box=np.array([10.0, 10.0, 100.0, 200.0]),
                          keypoints=np.zeros((17, 2)), visible=np.zeros(17, np.float32))
    spec = PoseModelSpec(input_size=(96, 128))
    via_train = KeypointDataset([record], spec, COCO17, AugmentConfig(), ignore_exif=ignore).image(0)
    via_val = PersonCropDataset([record], spec, ignore_exif=ignore).image(0)

    assert via_predict.shape[:2] == tuple(expected_hw)
    for other in (via_frames[0], via_train, via_val):
        np.testing.assert_array_equal(other, via_predict)
    np.testing.assert_array_equal(via_predict, read_image(photo, ignore_orientation=ignore))


def test_training_reads_stored_pixels_by_default(tmp_path):
    """COCO-style training data keeps HRNet's IMREAD_IGNORE_ORIENTATION frame unless told otherwise."""
    from posekit.spec import PoseModelSpec
    from posekit.train.config import DataConfig
    from posekit.train.dataset import PersonCropDataset, PersonRecord

    path = tmp_path / "rotated.jpg"
    data = _jpeg_with_exif(_marked(), 6)
    path.write_bytes(data)
    record = PersonRecord(image_id=1, image_path=str(path), box=np.array([0.0, 0.0, 20.0, 20.0]),
                          keypoints=np.zeros((17, 2)), visible=np.zeros(17, np.float32))
    assert DataConfig().ignore_exif is True
    image = PersonCropDataset([record], PoseModelSpec(input_size=(96, 128))).image(0)
    hrnet = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    np.testing.assert_array_equal(image, hrnet)


def test_one_error_type_and_one_reader():
    import pickle

    from posekit.train import dataset as train_dataset

    assert train_dataset.ImageReadError is ImageReadError
    assert train_dataset.read_image is read_image
    assert issubclass(ImageReadError, OSError)  # what training's copy was
    err = pickle.loads(pickle.dumps(ImageReadError("a/b.jpg", "truncated JPEG file")))
    assert (err.path, err.reason, str(err)) == ("a/b.jpg", "truncated JPEG file", "a/b.jpg: truncated JPEG file")
    assert str(ImageReadError("a whole message")) == "a whole message"  # rebuilt from its text (DataLoader)


# ----------------------------------------------------------------------------- natural sort, sha256


def test_natural_key():
    names = ["frame10.png", "frame2.png", "Frame1.png", "frame1b.png", "10.png", "9.png", "a.png", "A.png"]
    assert sorted(names, key=natural_key) == [
        "9.png", "10.png", "A.png", "a.png", "Frame1.png", "frame1b.png", "frame2.png", "frame10.png",
    ]
    assert sorted(["x", "x1", "x0001a"], key=natural_key) == ["x", "x1", "x0001a"]


def test_natural_key_is_shared():
    from posekit.video import sources

    assert sources.natural_key is natural_key


def test_sha256_file(tmp_path):
    p = tmp_path / "abc.txt"
    p.write_bytes(b"abc")
    assert sha256_file(p) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * (3 * 1024 + 5))
    assert sha256_file(big, chunk_size=1024) == hashlib.sha256(b"x" * (3 * 1024 + 5)).hexdigest()


# ----------------------------------------------------------------------------- atomic writes


def _leftovers(folder: Path, name: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != name)


def test_atomic_writers_write_and_replace(tmp_path):
    target = tmp_path / "out.json"
    assert atomic_write_json(target, {"a": [1, 2]}, indent=1) == target
    assert json.loads(target.read_text()) == {"a": [1, 2]} and target.read_text().endswith("}\n")
    atomic_write_json(target, [3])
    assert json.loads(target.read_text()) == [3]
    atomic_write_text(tmp_path / "t.txt", "héllo\n")
    assert (tmp_path / "t.txt").read_text(encoding="utf-8") == "héllo\n"
    atomic_write_bytes(tmp_path / "b.bin", b"\x00\x01")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert not list(tmp_path.glob("*.tmp"))


def test_atomic_write_failure_leaves_old_file_and_no_temp(tmp_path):
    target = tmp_path / "results.json"
    target.write_text("old")
    with pytest.raises(TypeError):
        atomic_write_json(target, {"bad": object()})
    assert target.read_text() == "old"
    assert _leftovers(tmp_path, target.name) == []
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_open(tmp_path / "new.bin") as f:
            f.write(b"partial")
            raise RuntimeError("boom")
    assert not (tmp_path / "new.bin").exists()
    assert _leftovers(tmp_path, target.name) == []
    with pytest.raises(FileNotFoundError):
        atomic_write_bytes(tmp_path / "no-such-dir" / "x.bin", b"x")
    with pytest.raises(ValueError):
        atomic_open(tmp_path / "x", "a")


def test_atomic_write_keeps_usual_permissions(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    atomic_write_text(tmp_path / "atomic.txt", "x")
    assert stat.S_IMODE((tmp_path / "atomic.txt").stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)


# ----------------------------------------------------------------------------- header sizes, bombs, OpenCV names


@pytest.mark.parametrize("ext", [".jpg", ".png", ".bmp", ".webp", ".ppm"])
def test_image_header_size_reads_width_and_height_without_decoding(ext):
    from posekit.io import image_header_size

    ok, buf = cv2.imencode(ext, np.zeros((37, 53, 3), np.uint8))
    assert ok and image_header_size(buf.tobytes()) == (53, 37)
    assert image_header_size(b"not an image") is None
    assert image_header_size(buf.tobytes()[:8]) is None or ext == ".ppm"


def test_decompression_bomb_header_refused_before_decoding():
    import struct
    import zlib

    from posekit.io import MAX_PIXELS, decode_image

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    with pytest.raises(ImageReadError, match="too large: 60000x60000"):
        decode_image(png, source="bomb.png")
    ok, small = cv2.imencode(".png", np.zeros((40, 30, 3), np.uint8))
    with pytest.raises(ImageReadError, match="too large"):
        decode_image(small.tobytes(), max_pixels=1000)
    assert decode_image(small.tobytes(), max_pixels=1200).shape == (40, 30, 3)
    assert MAX_PIXELS == 178_956_970


def test_opencv_path_refuses_names_opencv_would_crash_on():
    from posekit.io import opencv_path

    assert opencv_path(Path("vid/café.mp4")) == "vid/café.mp4"
    with pytest.raises(ValueError, match=r"caf\\xe9.mp4: OpenCV cannot open"):
        opencv_path("caf\udce9.mp4")


@pytest.mark.parametrize("head, suffix", [
    (b"\x00\x00\x00\x20ftypisom" + b"\x00" * 20, ".mp4"),
    (b"RIFF\x00\x00\x00\x00AVI LIST", ".avi"),
    (b"\x1a\x45\xdf\xa3\x01\x00", ".mkv"),
    (b"OggS\x00\x02", ".ogv"),
    (b"\x00\x00\x01\xba\x44", ".mpg"),
    (b"YUV4MPEG2 W640", ".y4m"),
    (b"\x47" + b"\x00" * 187 + b"\x47" + b"\x00" * 187 + b"\x47" + b"\x00" * 10, ".ts"),
    (b"\x89PNG\r\n\x1a\n", None),
    (b"hello world", None),
])
def test_sniff_video(head: bytes, suffix: str | None):
    assert sniff_video(head) == suffix
