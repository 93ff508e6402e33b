"""Devices (posekit.runtime): parsing, the ``auto`` choice, the providers each device gives a session, the
errors for a device that is not here, half precision -- with ONNX Runtime's provider list and session class
monkeypatched, since this machine has no GPU -- and ``--device`` on the command line."""

from __future__ import annotations

import json
import logging

import numpy as np
import onnxruntime
import pytest

from posekit import runtime
from posekit.catalog import package_weights_dir
from posekit.runtime import (
    Device, DeviceUnavailableError, SessionPlan, default_batch_size, make_session, plan_session, resolve_device,
    torch_device,
)

import testdata

TINYPOSE = package_weights_dir() / "pp-tinypose-256x192.onnx"
CPU_ONLY = ["AzureExecutionProvider", "CPUExecutionProvider"]  # what this machine's onnxruntime lists
GPU_BUILD = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]  # onnxruntime-gpu's list


@pytest.fixture
def providers(monkeypatch):
    """Set what ``onnxruntime.get_available_providers()`` answers: ``providers(["CUDAExecutionProvider", ...])``."""
    def set_providers(names: list[str]) -> None:
        monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: list(names))

    return set_providers


class _RecordedSession:
    """Stands in for ``onnxruntime.InferenceSession``: records what it was given; gets the providers it was asked
    for, or, with ``fallback``, only the CPU (what ORT does when an accelerator's libraries do not load)."""

    made: list["_RecordedSession"] = []
    fallback = False

    def __init__(self, model, sess_options=None, providers=None) -> None:
        self.model, self.options, self.providers = model, sess_options, providers
        names = [p[0] if isinstance(p, tuple) else p for p in providers]
        self._got = ["CPUExecutionProvider"] if self.fallback else names
        _RecordedSession.made.append(self)

    def get_providers(self) -> list[str]:
        return list(self._got)

    def get_provider_options(self) -> dict:
        return {p[0]: dict(p[1]) for p in self.providers if isinstance(p, tuple) and p[0] in self._got}


@pytest.fixture
def recorded(monkeypatch):
    """``onnxruntime.InferenceSession`` replaced by :class:`_RecordedSession`; yields the class (``.made``)."""
    _RecordedSession.made = []
    _RecordedSession.fallback = False
    monkeypatch.setattr(onnxruntime, "InferenceSession", _RecordedSession)
    yield _RecordedSession


# ----------------------------------------------------------------------------- the Device value


def test_device_parses_and_prints_back():
    cases = {"auto": Device("auto"), "cpu": Device("cpu"), "CUDA": Device("cuda"), "cuda:1": Device("cuda", 1),
             "tensorrt:0": Device("tensorrt", 0), "directml": Device("directml"), "coreml": Device("coreml"),
             "openvino": Device("openvino"), "openvino:gpu": Device("openvino", target="GPU"),
             "openvino:GPU.1": Device("openvino", target="GPU.1"), "openvino:NPU": Device("openvino", target="NPU")}
    for text, device in cases.items():
        assert Device.parse(text) == device
        assert Device.parse(str(device)) == device
    assert Device.parse(None) == Device("cpu") and Device.parse(Device("cuda", 2)) == Device("cuda", 2)
    assert [str(Device.parse(t)) for t in ("cuda:1", "openvino:gpu", "cpu")] == ["cuda:1", "openvino:GPU", "cpu"]
    for bad in ("gpu", "cuda:x", "cuda:-1", "cpu:0", "coreml:1", "openvino:g p u", ""):
        with pytest.raises(ValueError):
            Device.parse(bad)


def test_accelerators_and_providers():
    assert not Device("cpu").accelerator and not Device("auto").accelerator
    assert not Device("openvino").accelerator and not Device("openvino", target="CPU").accelerator
    assert all(Device(k).accelerator for k in ("cuda", "tensorrt", "coreml", "directml"))
    assert Device("openvino", target="GPU").accelerator
    assert Device("cuda").provider == "CUDAExecutionProvider" and Device("directml").provider == "DmlExecutionProvider"
    assert Device("openvino").provider is None


def test_default_batch_size_on_an_accelerator():
    """64 crops of 256x192 per call (ACCELERATOR_BATCH_PIXELS) whatever the threads; the CPU's rule is unchanged."""
    assert default_batch_size((192, 256), 1, "cuda") == 64 and default_batch_size((96, 128), None, "cuda:1") == 256
    assert default_batch_size((288, 384), 1, Device("tensorrt")) == 28
    assert default_batch_size((192, 256), 1, "cpu") == 1 and default_batch_size((192, 256), None, None) == 32
    assert default_batch_size((192, 256), 1, "openvino") == 1  # OpenVINO on the CPU is the CPU


# ----------------------------------------------------------------------------- auto and availability


def test_auto_prefers_cuda_then_directml_then_cpu(providers):
    providers(GPU_BUILD)
    assert resolve_device("auto") == Device("cuda") and resolve_device("auto").auto
    providers(["DmlExecutionProvider", "CPUExecutionProvider"])
    assert resolve_device("auto") == Device("directml")
    for names in (CPU_ONLY, ["CoreMLExecutionProvider", "CPUExecutionProvider"],
                  ["TensorrtExecutionProvider", "CPUExecutionProvider"]):  # never chosen by auto
        providers(names)
        assert resolve_device("auto") == Device("cpu") and resolve_device("auto").auto


def test_auto_on_this_machine_is_the_cpu():
    device = resolve_device("auto")
    assert device == Device("cpu") and device.auto and not device.accelerator


@pytest.mark.parametrize("device, package", [
    ("cuda", "onnxruntime-gpu"), ("cuda:1", "onnxruntime-gpu"), ("tensorrt", "tensorrt"),
    ("directml", "onnxruntime-directml"), ("coreml", "macOS"),
])
def test_an_explicit_device_that_is_missing_says_what_to_install(providers, device, package):
    providers(CPU_ONLY)
    with pytest.raises(DeviceUnavailableError) as info:
        resolve_device(device)
    message = str(info.value)
    assert package in message and "--device cpu" in message
    assert "AzureExecutionProvider, CPUExecutionProvider" in message  # what ORT does have
    assert isinstance(info.value, ImportError)  # an install problem: the CLI exits 2 with the message
    with pytest.raises(DeviceUnavailableError):
        make_session(TINYPOSE, 1, device=device)  # no session, no silent CPU run


def test_both_onnxruntime_builds_installed_is_named(providers, monkeypatch):
    providers(CPU_ONLY)
    monkeypatch.setattr(runtime, "_onnxruntime_builds", lambda: ["onnxruntime 1.32.0", "onnxruntime-gpu 1.31.1"])
    with pytest.raises(DeviceUnavailableError,
                       match=r"installed together.*pip uninstall -y onnxruntime onnxruntime-gpu"):
        resolve_device("cuda")


def test_openvino_devices_are_checked(monkeypatch):
    class Core:
        available_devices = ["CPU", "GPU.0", "GPU.1"]

    monkeypatch.setattr(runtime, "_openvino_core", lambda: Core())
    assert resolve_device("openvino:GPU") == Device("openvino", target="GPU")
    assert resolve_device("openvino:GPU.1").target == "GPU.1" and resolve_device("openvino:AUTO").target == "AUTO"
    with pytest.raises(DeviceUnavailableError, match="no device NPU.*CPU, GPU.0, GPU.1"):
        resolve_device("openvino:NPU")


# ----------------------------------------------------------------------------- what a session is given


def test_the_cpu_plan_is_todays_session_exactly(recorded):
    """``device=None``/``"cpu"``/``"auto"`` here: the backend as asked, ORT's CPU provider alone, the file as it is."""
    for device in (None, "cpu", "auto"):
        for backend in ("onnxruntime", "openvino", "auto"):
            plan = plan_session(device, backend)
            assert plan == SessionPlan(Device("cpu"), backend, ["CPUExecutionProvider"], "CPU", "f32", False)
        make_session(TINYPOSE, 2, device=device)
    assert all(s.providers == ["CPUExecutionProvider"] and s.model == str(TINYPOSE) for s in recorded.made)
    assert all(s.options.intra_op_num_threads == 2 for s in recorded.made)


@pytest.mark.parametrize("device, expected", [
    ("cuda", [("CUDAExecutionProvider", {"device_id": "0"}), "CPUExecutionProvider"]),
    ("cuda:1", [("CUDAExecutionProvider", {"device_id": "1"}), "CPUExecutionProvider"]),
    ("directml:2", [("DmlExecutionProvider", {"device_id": "2"}), "CPUExecutionProvider"]),
    ("coreml", ["CoreMLExecutionProvider", "CPUExecutionProvider"]),
])
def test_accelerator_sessions_get_their_providers(providers, recorded, device, expected):
    providers(GPU_BUILD + ["DmlExecutionProvider", "CoreMLExecutionProvider"])
    session = make_session(TINYPOSE, 1, device=device)
    assert recorded.made[-1].providers == expected
    wanted = Device.parse(device)
    index = (wanted.index or 0) if wanted.kind in ("cuda", "directml") else None
    assert runtime.session_device(session) == Device(wanted.kind, index)  # what summary.json reports


def test_tensorrt_session_options(providers, recorded):
    providers(GPU_BUILD)
    make_session(TINYPOSE, 1, device="tensorrt:1", half=True)
    (name, trt), cuda, cpu = recorded.made[-1].providers
    assert name == "TensorrtExecutionProvider" and cuda == ("CUDAExecutionProvider", {"device_id": "1"})
    assert cpu == "CPUExecutionProvider"
    assert trt["device_id"] == "1" and trt["trt_fp16_enable"] == "True" and trt["trt_engine_cache_enable"] == "True"
    assert recorded.made[-1].model == str(TINYPOSE)  # TensorRT does fp16 itself: the graph is not converted


def test_an_accelerator_that_fell_back_to_the_cpu_is_an_error_or_for_auto_a_warning(providers, recorded, caplog):
    """ORT lists CUDA but its libraries do not load: the session runs on the CPU. Explicit: error; auto: warning."""
    providers(GPU_BUILD)
    recorded.fallback = True
    with pytest.raises(DeviceUnavailableError, match="could not start its CUDAExecutionProvider"):
        make_session(TINYPOSE, 1, device="cuda")
    with caplog.at_level(logging.WARNING, logger="posekit.runtime"):
        session = make_session(TINYPOSE, 1, device="auto")
    assert "device auto runs on the CPU" in caplog.text
    assert runtime.session_device(session) == Device("cpu")


def test_auto_half_that_fell_back_to_the_cpu_runs_the_cpu_plan(providers, recorded, caplog):
    """``--device auto --half`` where CUDA is listed but does not load: the float16 graph made for CUDA is not left
    running on ORT's CPU provider; the session is made again from the file by the CPU plan (half ignored)."""
    pytest.importorskip("onnx")  # the float16 conversion of the first try
    providers(GPU_BUILD)
    recorded.fallback = True
    with caplog.at_level(logging.WARNING, logger="posekit.runtime"):
        session = make_session(TINYPOSE, 2, device="auto", half=True)
    assert "device auto runs on the CPU" in caplog.text
    first, last = recorded.made[0], recorded.made[-1]
    assert isinstance(first.model, bytes)  # the float16 graph, tried on CUDA
    assert session is last and len(recorded.made) == 2
    assert last.model == str(TINYPOSE) and last.providers == ["CPUExecutionProvider"]
    assert last.options.intra_op_num_threads == 2
    assert runtime.session_device(session) == Device("cpu")


def test_devices_and_backends_that_contradict(providers):
    providers(GPU_BUILD)
    with pytest.raises(ValueError, match="openvino"):
        plan_session("cuda", "openvino")
    with pytest.raises(ValueError, match="OpenVINO"):
        plan_session("openvino:CPU", "onnxruntime")
    plan = plan_session("openvino", "auto", False)
    assert (plan.backend, plan.openvino_device, plan.precision) == ("openvino", "CPU", "f32")


def test_auto_with_the_openvino_backend_is_the_cpu_even_where_ort_offers_cuda(providers, recorded):
    """``--runtime openvino`` (device auto) on a machine whose ONNX Runtime lists CUDA: auto picks among what
    OpenVINO runs, the CPU plan; an explicit ORT accelerator with OpenVINO stays an error."""
    providers(GPU_BUILD)
    assert resolve_device("auto") == Device("cuda")  # ONNX Runtime's sessions still take the GPU
    plan = plan_session("auto", "openvino")
    assert plan == SessionPlan(Device("cpu"), "openvino", ["CPUExecutionProvider"], "CPU", "f32", False)
    device = resolve_device("auto", "openvino")
    assert device == Device("cpu") and device.auto
    assert plan_session("auto", "openvino", half=True).precision == "f32"  # auto chose the CPU: half ignored
    for device in ("cuda", "tensorrt"):
        with pytest.raises(ValueError, match="OpenVINO's devices"):
            plan_session(device, "openvino")


# ----------------------------------------------------------------------------- half precision


def test_half_needs_an_accelerator(providers, recorded):
    pytest.importorskip("onnx")  # the float16 conversion
    providers(CPU_ONLY)
    with pytest.raises(ValueError, match="accelerators"):
        plan_session("cpu", "onnxruntime", half=True)
    assert plan_session("auto", "onnxruntime", half=True).float16_graph is False  # auto chose the CPU: ignored
    providers(GPU_BUILD + ["CoreMLExecutionProvider"])
    with pytest.raises(ValueError, match="coreml"):
        plan_session("coreml", "onnxruntime", half=True)
    assert plan_session("cuda", "onnxruntime", half=True).float16_graph
    assert not plan_session("tensorrt", "onnxruntime", half=True).float16_graph  # an EP option instead
    make_session(TINYPOSE, 1, device="cuda", half=True)
    model = recorded.made[-1].model
    assert isinstance(model, bytes)  # the converted graph, loaded from memory


def test_one_rule_for_half_on_the_cpu(caplog):
    """``half_precision``: kept on an accelerator, an error on a CPU asked for, ignored (logged) where auto chose
    the CPU -- told by the resolved device's ``auto`` flag or by the device as requested."""
    assert runtime.half_precision(True, Device("cuda")) and not runtime.half_precision(False, Device("cuda"))
    assert not runtime.half_precision(False, Device("cpu"))
    with pytest.raises(ValueError, match="is for accelerators, and device cpu is the CPU"):
        runtime.half_precision(True, Device("cpu"))
    with pytest.raises(ValueError, match="CUDA only"):
        runtime.half_precision(True, Device("cpu"), "cpu", needs="runs PyTorch networks on CUDA only")
    with caplog.at_level(logging.INFO, logger="posekit.runtime"):
        assert not runtime.half_precision(True, Device("cpu", auto=True))
        assert not runtime.half_precision(True, Device("cpu"), "auto")
    assert caplog.text.count("half precision ignored: device auto chose the CPU") == 2


def test_torch_yolov3_follows_the_half_rule(monkeypatch, tmp_path):
    """The PyTorch YOLOv3 detector no longer drops ``half`` silently: an error on the CPU asked for, ignored where
    auto chose the CPU (the same raw rows as without it). A small stand-in network keeps the test fast."""
    torch = pytest.importorskip("torch")
    import cv2

    from posekit.detect import yolov3

    class Rows(torch.nn.Module):
        """``(N, 3, S, S)`` -> ``(N, (S / 32) ** 2, 85)`` raw rows, like YOLOv3-SPP's output."""

        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.conv = torch.nn.Conv2d(3, 85, 32, stride=32)

        def forward(self, x):
            return self.conv(x).flatten(2).transpose(1, 2)

    monkeypatch.setattr(yolov3, "_build_torch_model", lambda weights, size, classes: Rows().eval())
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    weights = tmp_path / "yolo.pth"
    weights.write_bytes(b"stand-in")
    with pytest.raises(ValueError, match="CUDA only"):
        yolov3.Yolov3Detector(weights, input_size=320, runtime="torch", device="cpu", half=True)
    auto = yolov3.Yolov3Detector(weights, input_size=320, runtime="torch", device="auto", half=True)
    plain = yolov3.Yolov3Detector(weights, input_size=320, runtime="torch", device="cpu")
    assert auto.device == Device("cpu")
    x, _ = yolov3.yolov3_preprocess(cv2.imread(str(testdata.PERSON_IMAGE)), 320)
    rows = auto.predict_raw(x)
    assert rows.shape == (1, 100, 85) and rows.dtype == np.float32
    np.testing.assert_array_equal(rows, plain.predict_raw(x))


def test_float16_graph_keeps_float32_io_and_stays_close_on_real_crops(coco_subset):
    """The CUDA --half graph runs on ORT's CPU provider too: inputs and outputs stay float32, and on the COCO
    images' crops (PicoDet boxes) the heatmaps move by < 0.05 and confident keypoints by < 2 input pixels.
    (Measured here: 0.020 max heatmap difference; CPU float16 arithmetic, not a GPU's.)"""
    import cv2

    from posekit.pipeline import PoseEstimator
    from posekit.pose.crop import crop_people

    pytest.importorskip("onnx")
    est = PoseEstimator.from_preset("balanced", num_threads=2, runtime="onnx", device="cpu")
    half = make_session(runtime.float16_graph(TINYPOSE), 2)
    assert [i.type for i in half.get_inputs()] == ["tensor(float)"]
    assert [o.type for o in half.get_outputs()] == ["tensor(float)"]
    crops = []
    for path in sorted((coco_subset / "images").glob("*.jpg"))[:8]:
        image = cv2.imread(str(path))
        boxes, _ = est.detect(image)
        if len(boxes):
            crops.append(crop_people(image, boxes, est.spec)[0])
    x = est.spec.preprocess(np.concatenate(crops))
    full, reduced = est.pose_model.run(x), half.run(None, {"image": x})[0]
    assert reduced.dtype == np.float32 and reduced.shape == full.shape and len(x) >= 20
    assert np.abs(full - reduced).max() < 0.05
    codec = est.tail_config.codec(est.spec)
    a, b = codec.decode(full), codec.decode(reduced)
    confident = a.scores > 0.5
    assert confident.sum() > 100
    assert np.linalg.norm(a.keypoints - b.keypoints, axis=-1)[confident].max() < 2.0


# ----------------------------------------------------------------------------- PyTorch networks


def test_torch_device(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert torch_device("cpu") == "cpu" and torch_device(None) == "cpu" and torch_device("auto") == "cpu"
    with pytest.raises(DeviceUnavailableError, match="CUDA build of torch"):
        torch_device("cuda")
    with pytest.raises(DeviceUnavailableError, match="--runtime onnx"):
        torch_device("tensorrt")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert torch_device("auto") == "cuda:0" and torch_device("cuda:2") == "cuda:2"


def test_torch_pose_model_on_the_cpu_is_unchanged():
    torch = pytest.importorskip("torch")
    from posekit.pose.torch_model import TorchPoseModel
    from posekit.spec import PoseModelSpec

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 17, 3, stride=4, padding=1))
    spec = PoseModelSpec(input_size=(48, 64))
    x = np.random.default_rng(0).standard_normal((2, 3, 64, 48)).astype(np.float32)
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    for device in (None, "cpu", "auto"):
        model = TorchPoseModel(net, spec, device=device)
        assert model.device == Device("cpu") and model.torch_device == "cpu"
        np.testing.assert_array_equal(model.run(x), expected)
    with pytest.raises(ValueError, match="CUDA only"):
        TorchPoseModel(net, spec, device="cpu", half=True)


# ----------------------------------------------------------------------------- the estimator and the CLI


def test_estimator_device_on_this_machine():
    from posekit.batching import device_report, uses_batched_plan
    from posekit.pipeline import PoseEstimator

    est = PoseEstimator.from_preset("fast", num_threads=1, device="auto")
    assert est.device == Device("cpu") and not uses_batched_plan(est)
    report = device_report(est)
    assert report["requested"] == "auto" and report["device"] == "cpu" and report["plan"] == "cpu"
    assert report["pose_model"] in ("CPUExecutionProvider", "OpenVINO:CPU")
    with pytest.raises(DeviceUnavailableError, match="onnxruntime-gpu"):
        PoseEstimator.from_preset("fast", device="cuda")


def test_one_worker_by_default_where_the_networks_run_on_an_accelerator(providers, monkeypatch):
    """``posekit predict`` and ``posekit serve`` share one rule (``default_workers``): ``--workers`` unset is one
    worker of all the cores where the networks will run on an accelerator -- not with ``--runtime openvino``,
    whose ``auto`` is the CPU -- else one single-threaded worker per CPU."""
    from posekit.cli import build_parser
    from posekit.cli import serve as serve_cli
    from posekit.cli.predict import _plan, default_workers
    from posekit.engine import available_cpus

    parser = build_parser()
    providers(GPU_BUILD)
    assert default_workers(parser.parse_args(["predict", "x.jpg"])) == 1
    assert default_workers(parser.parse_args(["predict", "x.jpg", "--device", "cuda:0"])) == 1
    assert default_workers(parser.parse_args(["predict", "x.jpg", "--workers", "3"])) == 3
    assert default_workers(parser.parse_args(["predict", "x.jpg", "--runtime", "openvino"])) is None
    assert default_workers(parser.parse_args(["predict", "x.jpg", "--device", "cpu"])) is None
    args = parser.parse_args(["predict", "x.jpg"])
    plan = _plan(args)
    assert (plan.workers, plan.threads) == (args.workers, args.threads) == (1, available_cpus())
    providers(CPU_ONLY)
    assert default_workers(parser.parse_args(["predict", "x.jpg"])) is None
    # serve: the same rule, before its settings are made
    pytest.importorskip("fastapi")
    providers(GPU_BUILD)
    seen = {}
    monkeypatch.setattr("posekit.serve.server.run", lambda settings, factory, **kw: seen.update(settings=settings))
    assert serve_cli.run(parser.parse_args(["serve"])) == 0
    assert seen["settings"].workers == 1 and seen["settings"].threads == available_cpus()
    assert serve_cli.run(parser.parse_args(["serve", "--runtime", "openvino"])) == 0
    assert seen["settings"].workers == available_cpus()


@pytest.mark.slow
def test_predict_device_options(tmp_path, caplog):
    """``--device cpu`` gives the default run's results byte for byte; ``auto`` logs and records the CPU here;
    ``cuda`` without onnxruntime-gpu exits 2 before writing anything, naming what to install."""
    from posekit.cli import main

    images = [str(p) for p in testdata.coco_image_paths()[:4]]
    with caplog.at_level(logging.INFO):
        assert main(["predict", *images, "--out", str(tmp_path / "auto"), "--device", "auto", "--workers", "1"]) == 0
    assert "networks on requested auto, device cpu, plan cpu" in caplog.text
    summary = json.loads((tmp_path / "auto" / "summary.json").read_text())
    assert summary["device"]["device"] == "cpu" and summary["device"]["plan"] == "cpu"
    assert main(["predict", *images, "--out", str(tmp_path / "cpu"), "--device", "cpu", "--workers", "1"]) == 0
    assert main(["predict", *images, "--out", str(tmp_path / "default"), "--workers", "1"]) == 0
    results = (tmp_path / "cpu" / "results.json").read_bytes()
    assert results == (tmp_path / "default" / "results.json").read_bytes()
    assert results == (tmp_path / "auto" / "results.json").read_bytes()
    assert json.loads(results)
    caplog.clear()
    assert main(["predict", *images, "--out", str(tmp_path / "cuda"), "--device", "cuda"]) == 2
    assert "pip uninstall -y onnxruntime && pip install 'onnxruntime-gpu[cuda,cudnn]'" in caplog.text
    assert not (tmp_path / "cuda").exists()
    assert main(["predict", *images, "--out", str(tmp_path / "half"), "--device", "cpu", "--half"]) == 2
    with pytest.raises(SystemExit):
        main(["predict", *images, "--device", "gpu"])
