"""``PoseEstimator``: the pose pipeline, of one of two kinds.

* **top-down** (detector + single-person network): detect -> crop -> network ->
  decode -> map back -> pose NMS. Everything after the network is the top-down
  tail of :mod:`posekit.pose.topdown`, shared with training validation.
* **one-stage** (:mod:`posekit.pose.onestage`: YOLO-pose, RTMO): resize ->
  network -> decode (score threshold, NMS where the network has none, back to
  image pixels). No detector, no crops: the cost does not grow with the crowd.

Each stage is a function or object from its own module; this class only chains
them and times each stage (:attr:`PoseEstimator.timer`). Both kinds give
:class:`~posekit.structures.Poses`, so the engine, batch jobs, video and
tracking, the service and every writer take either.
"""

from __future__ import annotations

import contextlib
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterable, Iterator, NamedTuple

import numpy as np

from posekit.batching import batched_results, uses_batched_plan
from posekit.detect.budget import CropBudget, select_boxes
from posekit.detect.onnx_detectors import DetectorConfig
from posekit.engine import EnginePlan, ReplicaPool, plan_engine
from posekit.factory import build_detector, build_pose_model
from posekit.io import ImageReadError, read_image
from posekit.pose.crop import crop_people
from posekit.pose import topdown
from posekit.pose.topdown import POSE_NMS_METHODS, TopDownConfig
from posekit.posenms import PoseNMSParams, oks_nms
from posekit.prefetch import prefetch as prefetch_iter
from posekit.runtime import Device, default_batch_size, stages_device
from posekit.presets import DEFAULT_PRESET, Preset, get_preset
from posekit.schema import get_schema
from posekit.structures import Poses
from posekit.timing import StageTimer

__all__ = ["PoseEstimator", "FileResult", "POSE_NMS_METHODS"]

log = logging.getLogger(__name__)


class FileResult(NamedTuple):
    """The outcome for one image file of :meth:`PoseEstimator.predict_files`.

    Attributes:
        path: the file.
        image: its decoded BGR pixels ``(H, W, 3)`` (``None`` if unreadable).
        poses: its poses (``None`` on error).
        error: why the file failed, or ``None``.
    """

    path: Path
    image: np.ndarray | None
    poses: Poses | None
    error: str | None


def _read(path: Path, ignore_orientation: bool) -> tuple[np.ndarray | None, str | None]:
    """``(image, None)``, or ``(None, reason)`` when the file cannot be decoded."""
    try:
        return read_image(path, ignore_orientation=ignore_orientation), None
    except ImageReadError as exc:
        return None, exc.reason
    except Exception as exc:  # e.g. cv2.error / MemoryError in a decoder: one file, not the run
        return None, f"cannot decode ({type(exc).__name__}: {exc})"


def _file_result(estimator: Any, path: Path, image: np.ndarray | None, error: str | None) -> FileResult:
    """The :class:`FileResult` of one read file: its poses, or the reason it failed."""
    if error is not None:
        return FileResult(path, None, None, error)
    try:
        poses = estimator(image)
    except Exception as exc:  # one bad image must not lose the others' results
        log.warning("failed on %s: %s", path, exc)
        return FileResult(path, image, None, f"{type(exc).__name__}: {exc}")
    return FileResult(path, image, poses, None)


def _serial_results(estimator: Any, paths: Iterable[str | os.PathLike], prefetch: int,
                    ignore_orientation: bool) -> Iterator[FileResult]:
    """The one-worker path of :meth:`PoseEstimator.predict_files`: decoding ``prefetch`` ahead in a
    thread, inference in this one."""
    items = prefetch_iter(((Path(p), *_read(Path(p), ignore_orientation)) for p in paths), prefetch)
    try:
        for item in items:
            yield _file_result(estimator, *item)
    finally:
        close = getattr(items, "close", None)
        if close is not None:  # stops the reader thread when the caller stops early
            close()


class PoseEstimator:
    """Multi-person pose estimation on images.

    Every model option left at ``None`` comes from ``preset`` (:mod:`posekit.presets`:
    ``"fast"``, ``"balanced"`` — the default —, ``"accurate"``, ``"movenet"``, ...).

    The estimator is top-down (a detector, then a pose network per person box) or, when its
    pose model is a one-stage network (:attr:`one_stage`), a single network over the whole
    image; :meth:`detect` and :meth:`estimate` are top-down stages only.

    Args:
        detector: detector name (``"picodet_s_320"``, ``"yolox_nano"``, ``"rtmdet_nano"``,
            ``"yolov3_spp"``, ...), ONNX path, or callable ``image -> (boxes, scores)``.
            Not used with a one-stage pose model.
        pose_model: pose model name (``"pp_tinypose_256x192"``, ``"movenet_thunder"``, a
            :func:`posekit.models.list_models` network with ``checkpoint``, the one-stage
            ``"rtmo_s_body7"``), an ``.onnx`` path (a one-stage file — Ultralytics YOLO-pose,
            RTMO — is recognised by its inputs and outputs), a ``posekit train`` checkpoint, or
            an object with ``spec`` and ``run``.
        model_kind: ``"auto"`` (recognised), ``"top-down"``, ``"yolo-pose"`` or ``"rtmo"``
            (:data:`posekit.factory.MODEL_KINDS`).
        preset: the configuration (a :class:`~posekit.presets.Preset` or its name) the other options default to.
        models_dir: folder with the model files (default: ``POSEKIT_MODELS`` or the user cache).
        checkpoint: weights of a PyTorch pose network.
        detector_checkpoint: weights of ``yolov3_spp``.
        runtime: ``"auto"`` (default: ONNX Runtime, or OpenVINO where installed and measured faster
            for the network, :func:`posekit.runtime.choose_backend`), ``"onnx"``, ``"torch"`` for
            PyTorch networks, or ``"openvino"``.
        decode: heatmap decoder (default: the preset's, else the model's; see :data:`posekit.codec.DECODERS`).
        output: ``"heatmaps"`` or ``"keypoints"`` for models with both (MoveNet).
        flip_test: also run mirrored crops and average (twice the network time).
        pose_nms: ``"oks"`` (HRNet OKS-NMS on rescored poses, areas of the padded crop
            regions; see :mod:`posekit.pose.topdown`), ``"parametric"`` (AlphaPose) or ``"none"``.
        nms_params: AlphaPose pose-NMS constants.
        oks_thresh: OKS-NMS threshold.
        detector_config: detector thresholds (default: the preset's).
        crop_budget: which boxes get a pose crop (default: the preset's).
        batch_size: crops per network call (all crops of an image, and their mirrors, in one
            call up to this many). ``None``: by the sessions' threads
            (:func:`posekit.runtime.default_batch_size`: 32 on several threads, crops of about
            256x192 pixels in all on one thread, where larger batches leave the cache).
        num_threads: intra-op threads of the runtime (``None``: all cores) for the direct
            calls; :meth:`predict_files` runs replicas with their own (:mod:`posekit.engine`).
        spinning: ONNX Runtime's busy-waiting intra-op threads (off: graceful on a shared machine;
            no effect on single-threaded sessions; ``posekit`` commands turn it on, ``--no-spin`` off).
        device: where the networks run: ``"auto"`` (default: a GPU where ONNX Runtime offers one, else
            the CPU), ``"cpu"``, ``"cuda[:N]"``, ``"tensorrt[:N]"``, ``"openvino[:GPU|NPU|...]"``,
            ``"coreml"``, ``"directml"`` (:class:`posekit.runtime.Device`). :attr:`device` is where they
            actually run; on an accelerator :meth:`predict_files` batches across images (:mod:`posekit.batching`).
        half: float16 where the device supports it (:func:`posekit.runtime.plan_session`).
    """

    def __init__(
        self,
        detector: Any = None,
        pose_model: Any = None,
        *,
        preset: str | Preset = DEFAULT_PRESET,
        models_dir: str | os.PathLike | None = None,
        checkpoint: str | os.PathLike | None = None,
        detector_checkpoint: str | os.PathLike | None = None,
        runtime: str = "auto",
        decode: str | None = None,
        output: str | None = None,
        model_kind: str = "auto",
        flip_test: bool | None = None,
        pose_nms: str | None = None,
        nms_params: PoseNMSParams = PoseNMSParams(),
        oks_thresh: float = 0.9,
        detector_config: DetectorConfig | None = None,
        crop_budget: CropBudget | None = None,
        batch_size: int | None = None,
        num_threads: int | None = None,
        spinning: bool = False,
        device: str | Device = "auto",
        half: bool = False,
    ) -> None:
        p = preset if isinstance(preset, Preset) else get_preset(preset)
        self.preset = p.name
        # What the sessions are built from, so that the engine can build replicas with other thread counts.
        self._init_args = dict(
            detector=detector, pose_model=pose_model, preset=p, models_dir=models_dir, checkpoint=checkpoint,
            detector_checkpoint=detector_checkpoint, runtime=runtime, decode=decode, output=output,
            model_kind=model_kind, flip_test=flip_test, pose_nms=pose_nms, nms_params=nms_params, oks_thresh=oks_thresh,
            detector_config=detector_config, crop_budget=crop_budget, batch_size=batch_size, spinning=spinning,
            device=device, half=half,
        )
        self.num_threads = num_threads
        self.pose_model = build_pose_model(
            pose_model if pose_model is not None else p.pose_model, models_dir=models_dir, checkpoint=checkpoint,
            runtime=runtime, num_threads=num_threads, output=output, spinning=spinning, kind=model_kind,
            device=device, half=half,
        )
        #: One network over the whole image (no detector, no crops), see :mod:`posekit.pose.onestage`.
        self.one_stage = bool(getattr(self.pose_model, "one_stage", False))
        self.spec = self.pose_model.spec
        self.schema = get_schema(self.spec.schema)
        pose_nms = pose_nms if pose_nms is not None else ("none" if self.one_stage else p.pose_nms)
        if pose_nms not in POSE_NMS_METHODS:
            raise ValueError(f"pose_nms must be one of {POSE_NMS_METHODS}, got {pose_nms!r}")
        if self.one_stage:
            if flip_test or pose_nms == "parametric":
                raise ValueError(f"{self.pose_model.name} is a one-stage model: flip_test and parametric pose NMS "
                                 "are top-down options")
            self.detector = None
        else:
            if detector_config is None:
                detector_config = DetectorConfig(conf_thresh=p.det_conf, nms_thresh=p.det_nms)
            detector = detector if detector is not None else p.detector
            if detector is None:
                raise ValueError(f"preset {p.name!r} has no detector: its pose model is one-stage; give a detector "
                                 f"for the top-down pose model {pose_model!r}")
            self.detector = build_detector(
                detector, models_dir=models_dir, checkpoint=detector_checkpoint, config=detector_config,
                runtime=runtime, num_threads=num_threads, spinning=spinning, device=device, half=half,
            )
        # The preset's decoder belongs to the preset's pose model; another model keeps its own.
        preset_decode = p.decode if pose_model is None else None
        self.decode_method = None if self.one_stage else decode or preset_decode or self.spec.decode
        self.flip_test = False if self.one_stage else flip_test if flip_test is not None else p.flip_test
        self.crop_budget = None if self.one_stage else crop_budget if crop_budget is not None else CropBudget(
            min_score=p.min_box_score, min_size=p.min_box_size, max_crops=p.max_crops
        )
        self.pose_nms = pose_nms
        self.nms_params = nms_params
        self.oks_thresh = oks_thresh
        #: Where the networks run (an accelerator if either does: :func:`posekit.runtime.stages_device`).
        self.device = stages_device(self.detector, self.pose_model)
        self.batch_size = max(1, int(batch_size or default_batch_size(self.spec.input_size, num_threads, self.device)))
        self.timer = StageTimer()
        #: Person crops sent to the pose network so far (without flip-test mirrors).
        self.crops_run = 0
        #: Images run through the whole pipeline so far (calls of the estimator, and the images the accelerator
        #: plan finished), each once, whatever its stages: the ``per`` of per-image stage timings.
        self.images_run = 0
        self._replica_cache: dict[tuple[EnginePlan, bool], list[PoseEstimator]] = {}
        self._crop_pool: ThreadPoolExecutor | None = None  # set by parallel_crops()

    @property
    def replicable(self) -> bool:
        """True if the engine (:mod:`posekit.engine`: ``predict_files``, the video stream) may run replicas of
        this estimator (:meth:`replicate`): the models were given by name or path, not as ready objects (which
        may not be safe to run from two threads), and they run on the CPU -- on an accelerator
        (:func:`posekit.batching.uses_batched_plan`) each replica would hold its own copy of the networks in
        device memory, so one estimator owns the device and batches across images instead."""
        def built(x: Any) -> bool:
            return x is None or isinstance(x, (str, os.PathLike))

        return (built(self._init_args["detector"]) and built(self._init_args["pose_model"])
                and not uses_batched_plan(self))

    def replicate(self, num_threads: int | None) -> "PoseEstimator":
        """An estimator with the same models and settings and sessions of its own, with
        ``num_threads`` intra-op threads (for :mod:`posekit.engine`). Same results: a session's
        outputs do not depend on its thread count."""
        if not self.replicable:
            why = (f"its networks run on {self.device}" if uses_batched_plan(self)
                   else "its detector or pose model was given as an object")
            raise ValueError(f"this estimator cannot be replicated: {why}")
        return PoseEstimator(**self._init_args, num_threads=num_threads)

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> "PoseEstimator":
        """The estimator of preset ``name`` (``"fast"``, ``"balanced"``, ``"accurate"``, ``"movenet"``),
        with any constructor option overridden."""
        return cls(preset=name, **overrides)

    # ------------------------------------------------------------------ stages

    @property
    def kind(self) -> str:
        """``"top-down"`` or ``"one-stage"``."""
        return "one-stage" if self.one_stage else "top-down"

    def _top_down_only(self, stage: str) -> None:
        if self.one_stage:
            raise TypeError(
                f"{stage}() is a top-down stage; {self.pose_model.name} is a one-stage model, which finds people "
                "and their keypoints in one call: call the estimator on the image"
            )

    def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Person boxes ``(N, 4)`` xyxy and scores ``(N,)`` within the crop budget, best first (top-down only)."""
        self._top_down_only("detect")
        with self.timer("detect"):
            boxes, scores = self.detector(image)
            return select_boxes(boxes, scores, self.crop_budget)

    @property
    def tail_config(self) -> TopDownConfig:
        """The settings of the top-down tail (:mod:`posekit.pose.topdown`) from this estimator's options."""
        return TopDownConfig(
            decoder=self.decode_method if self.spec.output == "heatmaps" else None,
            pose_nms=self.pose_nms, oks_thresh=self.oks_thresh, nms_params=self.nms_params,
        )

    def estimate(self, image: np.ndarray, boxes: np.ndarray, box_scores: np.ndarray) -> Poses:
        """Poses for given person boxes: crop -> network -> decode -> map back -> pose NMS (top-down only).

        Args:
            image: ``(H, W, 3)`` BGR uint8.
            boxes: ``(N, 4)`` xyxy person boxes.
            box_scores: ``(N,)``.

        Returns:
            the poses after pose NMS (:func:`posekit.pose.topdown.suppress`), best first.
        """
        self._top_down_only("estimate")
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        box_scores = np.asarray(box_scores, np.float64).reshape(-1)
        if len(boxes) == 0:
            return Poses.empty(self.schema)
        self.crops_run += len(boxes)
        with self.timer("crop"):
            crops, matrices = crop_people(image, boxes, self.spec)
        with self.timer("network"):
            outputs, flipped = self._run_network(crops)
        return self.tail(outputs, matrices, boxes, box_scores, flipped=flipped)

    def tail(self, outputs: np.ndarray, matrices: np.ndarray, boxes: np.ndarray, box_scores: np.ndarray, *,
             flipped: np.ndarray | None = None) -> Poses:
        """One image's poses from its crops' network outputs: decode -> map back -> pose NMS
        (:func:`posekit.pose.topdown.poses_from_outputs` with :attr:`tail_config`), each stage timed.
        :meth:`estimate` and the accelerator plan (:mod:`posekit.batching`) end here.

        Args:
            outputs: the crops' outputs (:meth:`_run_network`), heatmaps ``(N, C, h, w)``, SimCC vectors or
                keypoints ``(N, K, 3)``.
            matrices: ``(N, 2, 3)`` image -> crop maps.
            boxes: ``(N, 4)`` xyxy person boxes, float64.
            box_scores: ``(N,)`` float64.
            flipped: the mirrored crops' outputs (flip test), or ``None``.
        """
        return topdown.poses_from_outputs(outputs, matrices, boxes, box_scores, self.spec, self.schema,
                                          flipped=flipped, config=self.tail_config, timer=self.timer)

    def __call__(self, image: np.ndarray | str | os.PathLike) -> Poses:
        """Poses of every person in a BGR image (or an image file)."""
        self.images_run += 1
        if isinstance(image, (str, os.PathLike)):
            with self.timer("read"):
                image = read_image(image)
        if self.one_stage:
            return self._one_stage_poses(image)
        boxes, scores = self.detect(image)
        return self.estimate(image, boxes, scores)

    def _one_stage_poses(self, image: np.ndarray) -> Poses:
        """resize -> network -> decode (thresholds, the model's NMS, image pixels) [-> OKS-NMS]."""
        model = self.pose_model
        with self.timer("resize"):
            x, lb = model.resize(image)
        with self.timer("network"):
            outputs = model.run(x)
        with self.timer("decode"):
            people = model.decode(outputs, lb, image.shape[:2])
        with self.timer("pose_nms"):
            keep = np.arange(len(people.scores))
            if self.pose_nms == "oks" and len(keep):
                areas = (people.boxes[:, 2] - people.boxes[:, 0]) * (people.boxes[:, 3] - people.boxes[:, 1])
                keep = oks_nms(people.keypoints, people.keypoint_scores, areas, people.scores,
                               self.schema.sigmas_array(), self.oks_thresh)
            return Poses(people.boxes[keep], people.scores[keep], people.keypoints[keep],
                         people.keypoint_scores[keep], people.scores[keep], schema=self.schema)

    def predict_files(
        self, paths: Iterable[str | os.PathLike], *, prefetch: int = 4, ignore_orientation: bool = False,
        workers: int | None = None, threads: int | None = None,
    ) -> Iterator[FileResult]:
        """Poses of each image file, in order, through the parallel engine (:mod:`posekit.engine`).

        ``workers`` replicas of this estimator (one per CPU by default, each with
        single-threaded sessions) each read, decode and process whole images; the
        results are identical to calling the estimator on each image in turn. With
        one worker (or models given as objects, see :attr:`replicable`), images are
        decoded ``prefetch`` ahead in a thread and processed in the calling thread.

        A file that cannot be read or processed gives a result with ``error`` set (the reason)
        and does not stop the others.

        When the networks run on an accelerator (:attr:`device`), the images go through the
        accelerator plan instead (:func:`posekit.batching.batched_results`: several images per
        network call on this estimator's sessions, CPU threads decoding ahead); ``prefetch``,
        ``workers`` and ``threads`` do not apply there. Same results as the CPU plan on the same sessions.

        Args:
            paths: image files.
            prefetch: images decoded ahead on the one-worker path (0: read in the calling thread).
            ignore_orientation: use the stored pixels, not the EXIF orientation.
            workers: estimator replicas run at once (``None``: from ``threads`` and the CPUs,
                :func:`posekit.engine.plan_engine`).
            threads: intra-op threads of each replica's sessions.
        """
        if uses_batched_plan(self):  # batches across images on this estimator's sessions (posekit.batching)
            read = lambda path: _read(path, ignore_orientation)  # noqa: E731
            yield from (FileResult(*r) for r in batched_results(self, paths, read=read, one_image=_file_result))
            return
        plan = plan_engine(workers, threads)
        if not plan.parallel or not self.replicable:
            yield from _serial_results(self, paths, prefetch, ignore_orientation)
            return
        replicas = self.replicas(plan)
        pool = ReplicaPool(replicas, max_in_flight=2 * plan.workers + prefetch)
        try:
            yield from pool.map(lambda est, path: _file_result(est, Path(path), *_read(Path(path), ignore_orientation)),
                                paths)
        finally:
            pool.close()
            self.gather_stats(replicas)  # the workers' timings and crop counts are this estimator's

    def replicas(self, plan: EnginePlan, *, include_self: bool = True) -> list["PoseEstimator"]:
        """``plan.workers`` estimators with ``plan.threads``-thread sessions (:meth:`replicate`): this one
        among them when ``include_self`` and its sessions have that many threads. Built once per plan
        and kept (only the last plan's: replicas hold sessions, that is memory)."""
        key = (plan, include_self)
        cached = self._replica_cache.get(key)
        if cached is None:
            own = [self] if include_self and self.num_threads == plan.threads else []
            cached = own + [self.replicate(plan.threads) for _ in range(plan.workers - len(own))]
            self._replica_cache = {key: cached}
        return cached

    def gather_stats(self, replicas: Iterable["PoseEstimator"]) -> None:
        """Move the replicas' stage timings, crop and image counts into this estimator's (after a parallel run)."""
        for replica in replicas:
            if replica is not self:
                self.timer.add(replica.timer)
                replica.timer.reset()
                self.crops_run += replica.crops_run
                replica.crops_run = 0
                self.images_run += replica.images_run
                replica.images_run = 0

    def stream(self, source: Any, **kwargs: Any) -> Iterator[tuple[int, float, Poses]]:
        """Frame-by-frame poses with track ids for a video, folder of frames, webcam or URL.

        See :func:`posekit.video.stream.stream_poses` for the options.
        """
        from posekit.video.stream import stream_poses

        return stream_poses(self, source, **kwargs)

    # ------------------------------------------------------------------ helpers

    def _run_network(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Crops ``(N, H, W, 3)`` BGR -> network outputs and, with flip test, the mirrored crops' outputs.

        A crop and its mirror go through the network in the same call (one call for up to
        ``batch_size`` crops in all), since the ONNX pose models take any batch. Inside
        :meth:`parallel_crops` the calls run on several threads at once.
        """
        together = self.flip_test and self.batch_size >= 2  # a crop and its mirror in one call
        step = self.batch_size // 2 if together else self.batch_size

        def run(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
            if together:
                both = self.pose_model.run(self.spec.preprocess(np.concatenate([batch, batch[:, :, ::-1]])))
                return both[: len(batch)], both[len(batch) :]
            out = self.pose_model.run(self.spec.preprocess(batch))
            return out, self.pose_model.run(self.spec.preprocess(batch[:, :, ::-1])) if self.flip_test else None

        batches = [crops[start : start + step] for start in range(0, len(crops), step)]
        pool = self._crop_pool
        results = list(pool.map(run, batches)) if pool is not None and len(batches) > 1 else [run(b) for b in batches]
        flips = [f for _, f in results if f is not None]
        return np.concatenate([o for o, _ in results], axis=0), np.concatenate(flips, axis=0) if flips else None

    @contextlib.contextmanager
    def parallel_crops(self, threads: int) -> Iterator[None]:
        """Within the block, the network calls of one image's crops run on ``threads`` threads at once,
        on the same session (ONNX Runtime runs concurrent calls of a session in parallel; other
        runtimes: no change). For work that must go image after image -- the propagated frames of
        a stream -- this puts every core on one image; results are the same."""
        if threads < 2 or not getattr(self.pose_model, "concurrent_runs", False):
            yield
            return
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="posekit-crops") as pool:
            self._crop_pool = pool
            try:
                yield
            finally:
                self._crop_pool = None

    def __repr__(self) -> str:
        if self.one_stage:
            return f"PoseEstimator(one-stage {self.pose_model!r}, pose_nms={self.pose_nms!r})"
        return (
            f"PoseEstimator(preset={self.preset!r}, pose={type(self.pose_model).__name__} {self.spec.input_size}, "
            f"decode={self.decode_method!r}, flip_test={self.flip_test}, pose_nms={self.pose_nms!r}, "
            f"crop_budget={self.crop_budget})"
        )
