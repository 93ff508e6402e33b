"""``posekit predict``: images, folders, globs (or videos) -> COCO results JSON (+ rendered images)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from posekit.cli.video import add_video_arguments, is_video_source, run_video_from_args
from posekit.presets import DEFAULT_PRESET, PRESETS, get_preset

__all__ = ["register", "run", "add_model_arguments", "estimator_kwargs", "estimator_from_args", "check_device",
           "device_is_accelerator", "default_workers"]

log = logging.getLogger("posekit.predict")

_EPILOG = """\
examples:
  posekit predict photo.jpg --out out/ --save-img
  posekit predict photos/ "more/*.png" --out out/ --preset fast       # several times faster, less accurate
  posekit predict photos/ --preset accurate                            # flip test: slower, more accurate
  posekit predict images/ --pose-model hrnet_w32_256x192 --checkpoint pose_hrnet_w32_256x192.pth
  posekit predict images/ --pose-model my_model.onnx --detector rtmdet_nano
  posekit predict video.mp4 --out out/ --save-video --detect-every 5
  posekit predict coco/val2017/ --out out/ --ignore-exif     # COCO evaluation: stored pixels, no EXIF turn
  posekit predict archive/ --recursive --out out/ --resume   # go on where a killed run stopped
  posekit predict @list.txt manifest.parquet --format parquet --format openpose
  posekit predict /shared/images --engine ray --ray-address auto --actors 8 --cpus-per-actor 4

outputs in --out (KEY = the image's path relative to the input root):
  records/part-*.jsonl one line per finished image, committed as it completes (the job's truth)
  results.json         COCO keypoint results (image_id, category_id, keypoints, score)
  summary.json         counts and the list of images that failed, each once with its reason
  vis/KEY              rendered skeletons (--save-img)
  alphapose-results.json, alphapose/KEY.json         (--format alphapose)
  openpose/KEY_keypoints.json                        (--format openpose: COCO-18 with neck)
  results.parquet      one row per person            (--format parquet)
  'posekit merge OUT' rebuilds every output from records/.

exit code: 0 all images processed, 1 some images failed (their results are still written), 2 no input
or bad options, 130 interrupted (the committed images are kept: run again with --resume).
Image ids are the numbers in COCO-style names (000000000885.jpg -> 885), else 1..N in sorted order.
"""


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """Options that choose and configure the models (shared with other commands)."""
    g = p.add_argument_group("models")
    g.add_argument("--preset", choices=sorted(PRESETS), default=DEFAULT_PRESET,
                   help=f"named configuration (default {DEFAULT_PRESET}; see 'posekit presets'); the options "
                        "below override its settings")
    g.add_argument("--detector", default=None,
                   help="person detector (default: the preset's): picodet_s_320, picodet_s_192, yolox_nano, "
                        "rtmdet_nano, yolov3_spp, or a YOLOX .onnx path")
    g.add_argument("--detector-checkpoint", help="weights for --detector yolov3_spp (.weights, .pth or .onnx)")
    g.add_argument("--pose-model", default=None,
                   help="pose model (default: the preset's): pp_tinypose_256x192, pp_tinypose_128x96, "
                        "movenet_thunder, movenet_lightning, a PyTorch network name "
                        "(see 'posekit models') with --checkpoint, a one-stage model (rtmo_s_body7, ...), a path "
                        "to an .onnx file (a YOLO-pose or RTMO file is recognised: one-stage, no detector), or a "
                        "checkpoint written by 'posekit train' (run/best.pth)")
    g.add_argument("--model-kind", choices=("auto", "top-down", "yolo-pose", "rtmo"), default="auto",
                   help="what --pose-model is: auto (default: recognised from the catalogue or the .onnx file's "
                        "inputs and outputs), top-down, or a one-stage contract (yolo-pose: Ultralytics' export; "
                        "rtmo: OpenMMLab's)")
    g.add_argument("--checkpoint", help="weights (.pth) of a PyTorch pose network")
    g.add_argument("--runtime", choices=("auto", "onnx", "torch", "openvino"), default="auto",
                   help="auto (default: ONNX Runtime, or OpenVINO where installed and measured at least 1.1x "
                        "faster for the network on this machine, measured once and cached), onnx, torch "
                        "(PyTorch networks only) or openvino (pip install 'posekit[openvino]')")
    g.add_argument("--models-dir", default=None,
                   help="folder with the model files; never downloads into it (default: $POSEKIT_MODELS, else "
                        "~/.cache/posekit/models, where missing files are downloaded)")
    g.add_argument("--spin", action=argparse.BooleanOptionalAction, default=True,
                   help="let idle ONNX Runtime threads of multi-threaded sessions busy-wait (default on: the command "
                        "owns the cores; --no-spin on a machine shared with other work). Single-threaded "
                        "sessions, the default, have no threads to spin")
    g.add_argument("--threads", type=int, default=None,
                   help="intra-op threads of each worker's ONNX Runtime or torch sessions (default: CPUs // "
                        "workers; with --workers unset, 1 thread per worker and one worker per CPU)")
    g.add_argument("--device", default="auto", type=_device,
                   help="where the networks run: auto (default: a GPU where ONNX Runtime offers one -- CUDA, else "
                        "DirectML --, else the CPU; the log and summary.json say which ran), cpu, cuda[:N], "
                        "tensorrt[:N], openvino[:CPU|GPU|NPU|AUTO], coreml, directml[:N]. GPUs need "
                        "onnxruntime-gpu (see the README, 'GPUs and other devices'); an explicit device that is "
                        "not available is an error. On an accelerator, images are batched into few network calls")
    g.add_argument("--half", action="store_true",
                   help="float16 networks where the device supports it (cuda, directml, tensorrt, openvino "
                        "GPU/NPU; PyTorch networks under autocast on cuda): faster, outputs differ slightly; "
                        "an error on the CPU")
    g = p.add_argument_group("inference")
    g.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None,
                   help="flip test: also run mirrored crops and average (default: the preset's; doubles the "
                        "pose-network time for about 0.01 AP)")
    g.add_argument("--decode", choices=("argmax", "hrnet", "alphapose", "dark"), default=None,
                   help="heatmap decoder (default: the preset's, else the model's own)")
    g.add_argument("--output-kind", choices=("heatmaps", "keypoints"), default=None,
                   help="for MoveNet: decode its heatmaps with posekit's codec or use its own keypoint output")
    g.add_argument("--pose-nms", choices=("oks", "parametric", "none"), default=None,
                   help="duplicate removal: HRNet OKS-NMS, AlphaPose parametric pose NMS, or none (default: the preset's)")
    g.add_argument("--det-conf", type=float, default=None, help="detector confidence threshold (default: the preset's)")
    g.add_argument("--det-nms", type=float, default=None, help="detector NMS IoU threshold (default: the preset's)")
    g.add_argument("--min-box-score", type=float, default=None,
                   help="crop budget: boxes scoring below this get no pose crop (default: the preset's)")
    g.add_argument("--min-box-size", type=float, default=None,
                   help="crop budget: boxes whose shorter side is below this many pixels get no pose crop "
                        "(default: the preset's; 0 keeps distant people in videos, at a cost: see the README)")
    g.add_argument("--max-crops", type=int, default=None,
                   help="crop budget: at most this many pose crops per image, best boxes first (default: the preset's)")
    g.add_argument("--batch-size", type=int, default=None,
                   help="crops per pose-network call (default: 32 for sessions of several threads, about one "
                        "256x192 crop's pixels for single-threaded ones: measured fastest; results are the same)")


def estimator_kwargs(args: argparse.Namespace) -> dict:
    """:class:`~posekit.pipeline.PoseEstimator` keyword arguments from the model options (unset
    ones: the preset's); picklable, so a Ray actor can build the same estimator."""
    overrides = {"det_conf": args.det_conf, "det_nms": args.det_nms, "min_box_score": args.min_box_score,
                 "min_box_size": args.min_box_size, "max_crops": args.max_crops}
    preset = get_preset(args.preset).with_(**{k: v for k, v in overrides.items() if v is not None})
    return dict(
        detector=args.detector, pose_model=args.pose_model, preset=preset, models_dir=args.models_dir,
        checkpoint=args.checkpoint, detector_checkpoint=args.detector_checkpoint, runtime=args.runtime,
        decode=args.decode, output=args.output_kind, model_kind=args.model_kind, flip_test=args.flip,
        pose_nms=args.pose_nms,
        batch_size=args.batch_size, num_threads=args.threads, spinning=args.spin,
        device=args.device, half=args.half,
    )


def estimator_from_args(args: argparse.Namespace):
    """Build a :class:`~posekit.pipeline.PoseEstimator` from the model options (unset ones: the preset's)."""
    from posekit.pipeline import PoseEstimator

    return PoseEstimator(**estimator_kwargs(args))


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "predict", help="estimate poses in images (or videos)", description=__doc__,
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="image files, folders, glob patterns (quoted), @list.txt (one path per line), .csv / "
                        ".parquet manifests with a 'path' column, or one video / stream "
                        "(e.g. posekit predict examples/basketball1.png --out out --save-img)")
    p.add_argument("--out", default="out", help="output folder (default: out)")
    p.add_argument("--save-img", action="store_true",
                   help="write rendered skeletons to OUT/vis/KEY (which ones: --draw-pose-thr, --draw-kpt-thr)")
    p.add_argument("--format", action="append", choices=("coco", "alphapose", "openpose", "parquet"), default=None,
                   help="output formats besides COCO results.json (repeatable): alphapose (AlphaPose JSON), "
                        "openpose (OpenPose JSON per image, COCO-18 with neck), parquet (one row per person)")
    p.add_argument("--recursive", action="store_true", help="search folders recursively")
    g = p.add_argument_group("large jobs")
    g.add_argument("--resume", action="store_true",
                   help="continue the job in --out: skip every image already committed there (same relative "
                        "path, size and mtime) and process the rest")
    g.add_argument("--overwrite", action="store_true", help="replace a previous run's outputs in --out")
    g.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local (default: this process) or ray (Ray Data actors, pip install 'posekit[ray]')")
    g.add_argument("--workers", type=int, default=None,
                   help="--engine local: estimators run at once, each on whole images with its own sessions "
                        "(default: one per CPU, single-threaded: the fastest measured on 2 cores; 1: the serial path)")
    g.add_argument("--ray-address", default=None,
                   help="join this Ray cluster ('auto' or ray://host:10001); default: start a local one")
    g.add_argument("--actors", type=int, default=1, help="--engine ray: pose-estimator actors (default 1)")
    g.add_argument("--cpus-per-actor", type=float, default=1.0,
                   help="--engine ray: CPUs per actor, also its ONNX Runtime threads (default 1)")
    g.add_argument("--ray-batch-size", type=int, default=8,
                   help="--engine ray: images per actor call, the unit Ray retries (default 8)")
    p.add_argument("--ignore-exif", action="store_true",
                   help="ignore the EXIF orientation of photos and frame folders and use the stored pixels, as "
                        "COCO annotations do (needed to evaluate on COCO); default: turn photos upright as a "
                        "photo viewer shows them")
    add_model_arguments(p)
    add_video_arguments(p)
    p.set_defaults(func=run)


def _video_inputs(inputs: list[str]) -> list[str]:
    return [i for i in inputs if is_video_source(i)]


def run(args: argparse.Namespace) -> int:
    from posekit.catalog import ModelFileError

    out = Path(args.out)
    videos = _video_inputs(args.inputs)
    try:
        check_device(args)
        if videos:
            if len(args.inputs) != 1:
                log.error("give one video / stream at a time (got %d inputs)", len(args.inputs))
                return 2
            return _run_video(args, videos[0], out)
        return _run_images(args, out)
    except (ModelFileError, ValueError, FileNotFoundError, ImportError) as exc:
        log.error("%s", exc)
        return 2


def _plan(args: argparse.Namespace):
    """The engine's plan of ``--workers`` / ``--threads``, written back into ``args``: the estimator built
    from the options gets the plan's threads, so that it is one of the engine's workers (images) or
    works beside them at the same thread count (the propagated frames of a video)."""
    from posekit.engine import plan_engine

    plan = plan_engine(default_workers(args), args.threads)
    args.workers, args.threads = plan.workers, plan.threads
    return plan


def check_device(args: argparse.Namespace) -> None:
    """Fail early, before any output is written, when ``--device`` / ``--half`` cannot run here (the same checks
    the sessions make: :func:`posekit.runtime.plan_session`, :func:`posekit.runtime.torch_device`).

    Raises:
        DeviceUnavailableError (an ImportError): the device is not available; the message says what to install.
        ValueError: ``--half`` on the CPU, or a device the runtime does not run.
    """
    from posekit.factory import session_backend
    from posekit.runtime import plan_session, torch_device

    if getattr(args, "engine", "local") == "ray":
        return  # the actors' machines decide
    if args.runtime == "torch":
        torch_device(args.device)
        return
    plan_session(args.device, session_backend(args.runtime), args.half)


def _device(text: str) -> str:
    """``--device``: checked as a device name (availability is checked when the networks load)."""
    from posekit.runtime import Device

    try:
        return str(Device.parse(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def device_is_accelerator(device: str, runtime: str = "auto") -> bool:
    """Whether ``--device`` resolves to an accelerator here for ``--runtime``: ``auto`` is one that the runtime's
    sessions would take (ONNX Runtime's providers, :func:`posekit.runtime.resolve_device`; none for OpenVINO;
    for PyTorch networks also a CUDA GPU that torch sees, :func:`posekit.runtime.torch_device`)."""
    from posekit.factory import session_backend
    from posekit.runtime import Device, resolve_device, torch_device

    if device != "auto":
        return Device.parse(device).accelerator
    try:
        if resolve_device(device, session_backend(runtime)).accelerator:
            return True
        return runtime == "torch" and torch_device(device) != "cpu"
    except ImportError:  # no onnxruntime (or torch) to ask: the error comes when the networks load
        return False


def default_workers(args: argparse.Namespace) -> int | None:
    """``--workers`` as given; unset, 1 where the networks will run on an accelerator (:func:`device_is_accelerator`:
    one estimator owns the device and batches across images, :mod:`posekit.batching`), else ``None`` (the engine's
    default, :func:`posekit.engine.plan_engine`: one single-threaded worker per CPU). The rule of ``posekit predict``
    and ``posekit serve``; the library's estimator makes the same choice (``PoseEstimator.replicable``)."""
    if args.workers is None and device_is_accelerator(args.device, args.runtime):
        return 1
    return args.workers


def _run_video(args: argparse.Namespace, source: str, out: Path) -> int:
    _plan(args)
    from posekit.batching import device_line

    estimator = estimator_from_args(args)
    log.info("%s", device_line(estimator))
    return run_video_from_args(args, estimator, source, out)


def _job_config(args: argparse.Namespace) -> dict:
    """The options that decide a job's results (``job.json``; ``--resume`` must match them)."""
    import dataclasses

    kwargs = estimator_kwargs(args)
    speed_only = ("preset", "models_dir", "batch_size", "num_threads", "spinning")  # same results either way
    config = {k: v for k, v in kwargs.items() if k not in speed_only}
    # Recorded only when set, so that a job made before the options existed (auto, float32) resumes.
    for option, default in (("device", "auto"), ("half", False)):
        if config.get(option) == default:
            del config[option]
    documentation = ("name", "description", "dev_ap", "images_per_s")
    config.update({f"preset.{k}": v for k, v in dataclasses.asdict(kwargs["preset"]).items() if k not in documentation})
    config["ignore_exif"] = args.ignore_exif
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in config.items()}


def _engine(args: argparse.Namespace):
    from posekit.batch import LocalEngine, RayEngine

    if args.engine == "ray":
        return RayEngine(estimator_kwargs(args), actors=args.actors, cpus_per_actor=args.cpus_per_actor,
                         address=args.ray_address, batch_size=args.ray_batch_size)
    plan = _plan(args)
    return LocalEngine(lambda: estimator_from_args(args), workers=plan.workers, threads=plan.threads)


def _run_images(args: argparse.Namespace, out: Path) -> int:
    from posekit.batch import JobError, RenderOptions, collect_inputs, prepare_output, run_job
    from posekit.io import IMAGE_EXTENSIONS

    items = collect_inputs(args.inputs, recursive=args.recursive)
    if not items:
        log.error("no images found in %s (looked for %s)", " ".join(args.inputs),
                  "/".join(e.lstrip(".") for e in IMAGE_EXTENSIONS))
        return 2
    try:
        prepare_output(out, _job_config(args), resume=args.resume, overwrite=args.overwrite)
    except JobError as exc:
        log.error("%s", exc)
        return 2
    engine = _engine(args)
    options = RenderOptions(save_img=args.save_img, ignore_exif=args.ignore_exif,
                            pose_thresh=args.draw_pose_thr, keypoint_thresh=args.draw_kpt_thr)
    report = run_job(items, out, engine, options=options, formats=args.format or ("coco",),
                     progress=not args.quiet)
    summary = report.summary
    written = [str(out / "results.json"), str(out / "summary.json")]
    if args.save_img:
        written.append(f"renderings in {out / 'vis'}/")
    log.info("%d/%d images processed (%d this run, %d from earlier runs), %d failed, %d poses -> %s",
             summary["processed"], summary["images"], report.committed, report.skipped, summary["failed"],
             summary["poses"], ", ".join(written))
    estimator = getattr(engine, "estimator", None)
    if estimator is not None and report.committed:
        log.info("per image: %s", estimator.timer.summary(per=max(1, report.committed)))
    return report.exit_code
