"""Pose tracking: stable track ids across frames.

:class:`PoseTracker` assigns a ``track_id`` to every pose of a frame. It is a
small online tracker in the spirit of SORT / ByteTrack, but matching poses:

1. **Template and prediction.** Each track keeps a *template*: every
   keypoint at its last confident position (keypoint score above
   ``keypoint_threshold``), forgotten after ``keypoint_memory`` frames unseen,
   and carried along with the person's motion meanwhile -- so a person seen
   whole and then half hidden is still compared as a whole person, at a
   whole person's scale. The template's box is the tight box of its
   keypoints. The track also has a constant velocity (pixels per frame,
   exponentially averaged) measured as the median shift of the keypoints
   shared by the template and the new pose, capped at a quarter of the box
   diagonal per frame so one wrong pose cannot fling the prediction away. Its
   prediction at frame ``t`` is the template shifted by
   ``velocity * min(t - t_last, max_prediction_frames)``.
2. **Association** in a cascade of Hungarian assignments
   (:func:`scipy.optimize.linear_sum_assignment`), each over the tracks and
   poses still unmatched, most trusted first: (a) confirmed tracks matched in
   the previous frame with the *strong* poses (pose confidence -- the mean
   keypoint score -- at least ``min_birth_confidence``); (b) lost tracks with
   the strong poses left (re-association, below); (c) tentative tracks with the
   strong poses left; (d) confirmed tracks still unmatched with the weak
   poses. So neither a tentative track nor a weak fragment can take a pose
   from an established track, and a tentative track grows on strong poses
   only. Levels (a), (c), (d) use the similarity ``w * OKS + (1 - w) * IoU`` between the predicted
   template / box and each new pose / box. Each assignment maximises the sum
   of ``similarity - match_threshold`` over the matched pairs, so pairs below
   the threshold never match and one strong pair is never traded for two weak
   ones just to match more tracks. OKS is the symmetric tracking OKS of
   :func:`posekit.evaluation.oks.oks_one_to_many` with the schema's sigmas
   over the keypoints confident in both poses, scaled by the share of the
   keypoints confident in either pose that are confident in both (a fragment
   agreeing on two keypoints is not a perfect match); boxes and areas are those
   of the confident keypoints, so detector boxes and propagated crop boxes
   compare alike.
3. **Re-association of lost tracks.** A confirmed track that went unmatched is
   *lost*; for ``max_misses`` frames it may take a strong pose whose OKS
   against its template -- as it was, or shifted by the constant-velocity
   prediction, whichever is closer -- is at least ``reassociate_oks``. It
   then keeps its id.
4. **Birth.** Each pose left over (with pose confidence -- mean keypoint score --
   of at least ``min_birth_confidence``) starts a *tentative* track. A tentative
   track that is matched to strong poses ``min_hits`` frames in a row (birth
   after k hits) is *confirmed* and only
   then receives an id (ids count up from ``first_id`` in confirmation order,
   so short-lived false positives never consume ids). A tentative track that
   misses a single frame is discarded.
5. **Death.** A confirmed track unmatched for more than ``max_misses``
   consecutive frames is deleted; its id is never reused.

Output: the input poses, in the same order, with ``track_ids`` set. Poses of
tentative tracks (and poses too weak to start a track) are output with
``track_id = -1`` by default (``output_tentative=True``): they are real
detections, just not yet tracked; with ``output_tentative=False`` they are
dropped, so every output pose carries an id.

The tracker is deterministic and keeps no global state; everything it needs is
in its :class:`TrackerConfig` and its own instance.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from posekit.evaluation.oks import oks_one_to_many
from posekit.geometry import box_iou, keypoints_to_boxes
from posekit.schema import COCO17, KeypointSchema
from posekit.structures import Poses

__all__ = ["TrackerConfig", "TrackerStats", "PoseTracker", "pose_boxes", "pose_confidence", "similarity_matrix"]

log = logging.getLogger(__name__)

# Added to every admissible pair's gain so that a pair exactly at the threshold still counts.
_TIE = 1e-9


@dataclass(frozen=True)
class TrackerConfig:
    """Tracker settings.

    Attributes:
        min_hits: consecutive matched frames before a track is confirmed and
            gets an id (birth after k hits; 1 = immediately).
        max_misses: consecutive unmatched frames after which a confirmed track
            is deleted (death after m misses); also the re-association window.
        oks_weight: weight ``w`` of OKS in ``w * OKS + (1 - w) * IoU``.
        match_threshold: minimum similarity to match an active or tentative track.
        reassociate_oks: minimum OKS (keypoint-share scaled, see the module
            docstring) to re-associate a lost track.
        keypoint_threshold: keypoints scoring above this count in OKS and in
            pose boxes.
        min_birth_confidence: minimum pose confidence (mean keypoint score) to
            start a new track or to re-associate a lost one ("strong" poses);
            weaker poses can only continue a track.
        use_velocity: predict with a constant-velocity model (else: last pose).
        velocity_momentum: exponential averaging of the velocity (0 = last
            displacement only).
        max_prediction_frames: frames the constant-velocity extrapolation runs
            for a lost track before it holds still.
        keypoint_memory: frames a keypoint stays in the track's template after
            it was last confident (0: the template is the last pose's
            confident keypoints only).
        output_tentative: output poses of unconfirmed tracks with id -1 (True)
            or drop them (False).
        first_id: the first track id handed out.
    """

    min_hits: int = 3
    max_misses: int = 30
    oks_weight: float = 0.5
    match_threshold: float = 0.3
    reassociate_oks: float = 0.35
    keypoint_threshold: float = 0.3
    min_birth_confidence: float = 0.25
    use_velocity: bool = True
    velocity_momentum: float = 0.6
    max_prediction_frames: int = 10
    keypoint_memory: int = 15
    output_tentative: bool = True
    first_id: int = 1

    def __post_init__(self) -> None:
        if self.min_hits < 1:
            raise ValueError(f"min_hits must be >= 1, got {self.min_hits}")
        if self.max_misses < 0:
            raise ValueError(f"max_misses must be >= 0, got {self.max_misses}")
        for name in ("oks_weight", "match_threshold", "reassociate_oks", "velocity_momentum"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if self.keypoint_memory < 0:
            raise ValueError(f"keypoint_memory must be >= 0, got {self.keypoint_memory}")
        if self.max_prediction_frames < 0:
            raise ValueError(f"max_prediction_frames must be >= 0, got {self.max_prediction_frames}")
        if self.first_id < 0:
            raise ValueError(f"first_id must be >= 0, got {self.first_id}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TrackerStats:
    """Counts since the tracker was created (or reset).

    Attributes:
        confirmed: tracks born (confirmed, given an id).
        deleted: confirmed tracks deleted after ``max_misses`` misses.
        discarded: tentative tracks dropped before confirmation.
        reassociated: times a lost track was picked up again.
        active: confirmed tracks matched in the last frame.
        lost: confirmed tracks currently lost (waiting for re-association).
    """

    confirmed: int = 0
    deleted: int = 0
    discarded: int = 0
    reassociated: int = 0
    active: int = 0
    lost: int = 0


class _Track:
    """State of one track (internal, mutable).

    ``box`` is the last observed pose's box. ``memory`` is
    the track's *template*: every keypoint at its last confident position,
    carried along with the person's motion since, and ``age`` ``(K,)`` the
    frames since each was confident (``inf``: never). A person seen whole and
    then half-hidden is still recognised by the whole template.
    """

    __slots__ = ("serial", "track_id", "box", "memory", "age", "velocity",
                 "hits", "misses", "last_frame", "observations")

    def __init__(self, serial: int, keypoints: np.ndarray, scores: np.ndarray, box: np.ndarray, frame: int,
                 keypoint_threshold: float) -> None:
        self.serial = serial
        self.track_id = -1
        self.box = box
        self.memory = keypoints.copy()
        self.age = np.where(scores > keypoint_threshold, 0.0, np.inf)
        self.velocity = np.zeros(2)
        self.hits = 1
        self.misses = 0
        self.last_frame = frame
        self.observations = 1

    @property
    def confirmed(self) -> bool:
        return self.track_id >= 0


def _box_area(box: np.ndarray) -> float:
    return float(max((box[2] - box[0]) * (box[3] - box[1]), 1.0))


def _centers(boxes: np.ndarray) -> np.ndarray:
    return (boxes[..., :2] + boxes[..., 2:4]) / 2.0


def _displacement(
    kp0: np.ndarray, valid0: np.ndarray, box0: np.ndarray, kp1: np.ndarray, valid1: np.ndarray, box1: np.ndarray,
) -> np.ndarray:
    """Robust motion ``(2,)`` between two poses: median shift of the keypoints valid in both.

    Falls back to the shift of the box centres when fewer than 3 keypoints are shared.
    """
    common = valid0 & valid1
    if common.sum() >= 3:
        return np.median(kp1[common] - kp0[common], axis=0)
    return _centers(box1) - _centers(box0)


def pose_confidence(poses: Poses) -> np.ndarray:
    """Pose confidence ``(N,)``: the mean keypoint score (independent of how ``scores`` was computed)."""
    if len(poses) == 0:
        return np.zeros(0)
    return poses.keypoint_scores.astype(np.float64).mean(axis=1)


def pose_boxes(poses: Poses, keypoint_threshold: float, min_keypoints: int = 2) -> np.ndarray:
    """Tight boxes ``(N, 4)`` xyxy around the keypoints scoring above ``keypoint_threshold``.

    Poses with fewer than ``min_keypoints`` such keypoints fall back to their
    own ``boxes``.
    """
    if len(poses) == 0:
        return np.zeros((0, 4))
    valid = poses.keypoint_scores > keypoint_threshold
    boxes = keypoints_to_boxes(poses.keypoints, valid)
    few = valid.sum(axis=1) < min_keypoints
    boxes[few] = poses.boxes[few]
    return boxes


def similarity_matrix(
    track_keypoints: np.ndarray,
    track_scores: np.ndarray,
    track_boxes: np.ndarray,
    keypoints: np.ndarray,
    scores: np.ndarray,
    boxes: np.ndarray,
    sigmas: np.ndarray,
    *,
    oks_weight: float,
    keypoint_threshold: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Pose similarities between tracks and new poses (pure).

    Args:
        track_keypoints: ``(T, K, 2)`` predicted track poses.
        track_scores: ``(T, K)`` their keypoint scores.
        track_boxes: ``(T, 4)`` their boxes (areas are the OKS scale).
        keypoints, scores, boxes: ``(D, K, 2)``, ``(D, K)``, ``(D, 4)`` new poses.
        sigmas: ``(K,)`` OKS sigmas of the schema.
        oks_weight: ``w`` in ``w * OKS + (1 - w) * IoU``.
        keypoint_threshold: a keypoint is confident when its score exceeds this.

    Returns:
        ``(similarity, oks)``, both ``(T, D)`` float64.

    The OKS is the symmetric tracking OKS
    (:func:`posekit.evaluation.oks.oks_one_to_many`) over the keypoints
    confident in both poses, scaled by ``n_both / n_either`` -- the share of
    keypoints confident in either pose that are confident in both -- so a pose
    that agrees with a track on one or two keypoints only (a fragment, a
    half-visible neighbour) cannot score as a perfect match.
    """
    t, d = len(track_keypoints), len(keypoints)
    oks = np.zeros((t, d))
    if t == 0 or d == 0:
        return oks.copy(), oks
    others = np.concatenate([keypoints, scores[..., None]], axis=2)
    areas = (boxes[:, 2] - boxes[:, 0]).clip(min=1.0) * (boxes[:, 3] - boxes[:, 1]).clip(min=1.0)
    det_conf = scores > keypoint_threshold  # (D, K)
    for i in range(t):
        ref = np.concatenate([track_keypoints[i], track_scores[i][:, None]], axis=1)
        both_oks = oks_one_to_many(ref, _box_area(track_boxes[i]), others, areas, sigmas,
                                   score_threshold=keypoint_threshold)
        ref_conf = track_scores[i] > keypoint_threshold  # (K,)
        both = (det_conf & ref_conf).sum(axis=1)
        either = (det_conf | ref_conf).sum(axis=1)
        oks[i] = both_oks * both / np.maximum(either, 1)
    iou = box_iou(track_boxes, boxes)
    return oks_weight * oks + (1.0 - oks_weight) * iou, oks


def _assign(similarity: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Hungarian assignment maximising ``sum(similarity - threshold)`` over the matched pairs.

    Pairs below ``threshold`` are never matched. Leaving a track unmatched costs
    nothing, so the assignment does not trade one strong pair for two weak ones
    just to match more tracks (as a plain minimum-cost matching with large
    "infeasible" costs would).
    """
    if similarity.size == 0:
        return []
    gain = np.where(similarity >= threshold, similarity - threshold + _TIE, 0.0)
    rows, cols = linear_sum_assignment(gain, maximize=True)
    return [(int(r), int(c)) for r, c in zip(rows, cols) if similarity[r, c] >= threshold]


class PoseTracker:
    """Online multi-person pose tracker (see the module docstring).

    Args:
        config: settings (default :class:`TrackerConfig()`).
        schema: keypoint layout; its OKS sigmas are used.

    Example::

        tracker = PoseTracker(TrackerConfig(min_hits=2))
        for index, frame in enumerate(frames):
            poses = tracker.update(estimator(frame), index)
    """

    def __init__(self, config: TrackerConfig | None = None, schema: KeypointSchema = COCO17) -> None:
        self.config = config or TrackerConfig()
        self.schema = schema
        self._sigmas = schema.sigmas_array()
        self.reset()

    def reset(self) -> None:
        """Forget all tracks and counters (ids start again at ``first_id``)."""
        self._tracks: list[_Track] = []
        self._serial = 0
        self._next_id = self.config.first_id
        self._last_frame: int | None = None
        self._confirmed = self._deleted = self._discarded = self._reassociated = 0

    # ------------------------------------------------------------------ queries

    @property
    def stats(self) -> TrackerStats:
        active = sum(1 for t in self._tracks if t.confirmed and t.misses == 0)
        lost = sum(1 for t in self._tracks if t.confirmed and t.misses > 0)
        return TrackerStats(self._confirmed, self._deleted, self._discarded, self._reassociated, active, lost)

    def live_ids(self) -> frozenset[int]:
        """Ids of confirmed tracks still alive (active or lost)."""
        return frozenset(t.track_id for t in self._tracks if t.confirmed)

    def __len__(self) -> int:
        return len(self._tracks)

    # ------------------------------------------------------------------ update

    def _templates(self, tracks: list[_Track]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Track templates: keypoints ``(T, K, 2)``, scores ``(T, K)`` (1 for the remembered
        keypoints, else 0) and boxes ``(T, 4)``."""
        k = self.schema.num_keypoints
        if not tracks:
            return np.zeros((0, k, 2)), np.zeros((0, k)), np.zeros((0, 4))
        kps = np.stack([t.memory for t in tracks])
        valid = np.stack([t.age for t in tracks]) <= self.config.keypoint_memory
        boxes = keypoints_to_boxes(kps, valid)
        few = valid.sum(axis=1) < 2
        boxes[few] = np.stack([t.box for t in tracks])[few]
        return kps, valid.astype(np.float64), boxes

    def _predict(self, tracks: list[_Track], frame: int, kps: np.ndarray,
                 boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Templates ``(T, K, 2)`` and boxes ``(T, 4)`` shifted by the constant-velocity prediction at ``frame``."""
        steps = np.array([min(frame - t.last_frame, self.config.max_prediction_frames) for t in tracks], float)
        shift = np.stack([t.velocity for t in tracks]).reshape(-1, 2) * steps[:, None]
        return kps + shift[:, None, :], boxes + np.concatenate([shift, shift], axis=1)

    def _observe(self, track: _Track, keypoints: np.ndarray, scores: np.ndarray, box: np.ndarray, frame: int) -> None:
        cfg = self.config
        dt = max(frame - track.last_frame, 1)
        confident = scores > cfg.keypoint_threshold
        remembered = track.age <= cfg.keypoint_memory
        motion = _displacement(track.memory, remembered, track.box, keypoints, confident, box)
        step = motion / dt
        # A pose that jumps (e.g. onto a neighbour) must not fling the prediction away.
        limit = 0.25 * float(np.hypot(box[2] - box[0], box[3] - box[1]))
        speed = float(np.hypot(*step))
        if speed > limit > 0:
            step = step * (limit / speed)
        m = cfg.velocity_momentum  # starts from rest: one noisy first step cannot fling a new track
        track.velocity = m * track.velocity + (1.0 - m) * step
        # The template moves with the person; keypoints seen now replace the remembered ones.
        track.memory = np.where(confident[:, None], keypoints, track.memory + step * dt)
        track.age = np.where(confident, 0.0, track.age + dt)
        track.box = box
        track.last_frame = frame
        track.observations += 1
        track.misses = 0
        track.hits += 1

    def update(self, poses: Poses, frame_index: int, continues: np.ndarray | None = None) -> Poses:
        """Track the poses of frame ``frame_index``.

        Args:
            poses: the frame's poses (any ``track_ids`` they carry are ignored).
            frame_index: the frame's index; must increase from call to call
                (gaps are fine: skipped frames count as elapsed time).
            continues: ``(N,)`` for each pose the id of the confirmed track it
                continues, or -1: a pose estimated in a crop taken from that
                track's pose of the previous frame (detection every ``N``
                frames) is that person by construction, however its shape
                changed. Such a pose goes to its track before any matching
                (an id that is not a live track is ignored).

        Returns:
            the same poses in the same order with ``track_ids`` set (``-1``
            for unconfirmed poses), or without the unconfirmed ones when
            ``config.output_tentative`` is False.
        """
        cfg = self.config
        frame = int(frame_index)
        if self._last_frame is not None and frame <= self._last_frame:
            raise ValueError(f"frame_index must increase: got {frame} after {self._last_frame}")
        if poses.schema.num_keypoints != self.schema.num_keypoints:
            raise ValueError(f"poses have {poses.schema.num_keypoints} keypoints, tracker schema "
                             f"{self.schema.name!r} has {self.schema.num_keypoints}")
        self._last_frame = frame

        n = len(poses)
        kps = poses.keypoints.astype(np.float64)
        kp_scores = poses.keypoint_scores.astype(np.float64)
        boxes = pose_boxes(poses, cfg.keypoint_threshold)
        owner: list[_Track | None] = [None] * n
        free = list(range(n))

        confidence = kp_scores.mean(axis=1) if n else np.zeros(0)
        strong = confidence >= cfg.min_birth_confidence

        if continues is not None:
            continues = np.asarray(continues, dtype=np.int64).reshape(-1)
            if len(continues) != n:
                raise ValueError(f"continues has {len(continues)} entries for {n} poses")
            live = {t.track_id: t for t in self._tracks if t.confirmed}
            for i, track_id in enumerate(continues.tolist()):
                track = live.pop(track_id, None)  # one pose per track
                if track is not None:
                    owner[i] = track
            free = [i for i in free if owner[i] is None]

        # Association cascade: each level is one Hungarian assignment between the
        # tracks and poses still unmatched, most trusted first, so that neither a
        # tentative track nor a weak fragment takes a pose from an established track.
        active = [t for t in self._tracks if t.misses == 0 and t.confirmed]
        lost = [t for t in self._tracks if t.misses > 0 and t.confirmed]
        tentative = [t for t in self._tracks if not t.confirmed]
        cascade = ((active, True), (lost, True), (tentative, True), (active, False))
        for tracks, want_strong in cascade:
            taken = {id(o) for o in owner if o is not None}
            candidates = [t for t in tracks if id(t) not in taken]
            pool = [i for i in free if strong[i] == want_strong]
            if not candidates or not pool:
                continue
            match = self._match_lost if tracks is lost else self._match_active
            for r, c in match(candidates, pool, kps, kp_scores, boxes, frame):
                owner[pool[c]] = candidates[r]
            free = [i for i in free if owner[i] is None]

        # Update matched tracks (confirming tentative ones that reach min_hits).
        matched: set[int] = set()
        for i, track in enumerate(owner):
            if track is None:
                continue
            matched.add(track.serial)
            self._observe(track, kps[i], kp_scores[i], boxes[i], frame)
            if not track.confirmed and track.hits >= cfg.min_hits:
                self._confirm(track)

        # Unmatched tracks: tentative ones are discarded, confirmed ones age.
        survivors: list[_Track] = []
        for track in self._tracks:
            if track.serial in matched:
                survivors.append(track)
                continue
            track.misses += 1
            track.hits = 0
            if not track.confirmed:
                self._discarded += 1
            elif track.misses > cfg.max_misses:
                self._deleted += 1
                log.debug("frame %d: track %d deleted after %d misses", frame, track.track_id, track.misses)
            else:
                survivors.append(track)

        # Birth: leftover poses that are confident enough start tentative tracks.
        for i in free:
            if not strong[i]:
                continue
            track = _Track(self._serial, kps[i], kp_scores[i], boxes[i], frame, cfg.keypoint_threshold)
            self._serial += 1
            owner[i] = track
            survivors.append(track)
            if cfg.min_hits <= 1:
                self._confirm(track)
        survivors.sort(key=lambda t: t.serial)
        self._tracks = survivors

        ids = np.array([-1 if t is None else t.track_id for t in owner], dtype=np.int64)
        out = poses.replace(track_ids=ids)
        if not cfg.output_tentative:
            out = out[ids >= 0]
        return out

    def _match_active(self, tracks: list[_Track], pool: list[int], kps: np.ndarray, kp_scores: np.ndarray,
                      boxes: np.ndarray, frame: int) -> list[tuple[int, int]]:
        """Tracks matched last frame: ``w * OKS + (1 - w) * IoU`` against their predicted template."""
        cfg = self.config
        p_kps, p_scores, p_boxes = self._templates(tracks)
        if cfg.use_velocity:
            p_kps, p_boxes = self._predict(tracks, frame, p_kps, p_boxes)
        sim, _ = similarity_matrix(
            p_kps, p_scores, p_boxes, kps[pool], kp_scores[pool], boxes[pool],
            self._sigmas, oks_weight=cfg.oks_weight, keypoint_threshold=cfg.keypoint_threshold,
        )
        return _assign(sim, cfg.match_threshold)

    def _match_lost(self, tracks: list[_Track], pool: list[int], kps: np.ndarray, kp_scores: np.ndarray,
                    boxes: np.ndarray, frame: int) -> list[tuple[int, int]]:
        """Lost tracks: OKS against the template, as it was or shifted by the velocity (the better one)."""
        cfg = self.config
        oks = np.zeros((len(tracks), len(pool)))
        t_kps, t_scores, t_boxes = self._templates(tracks)
        candidates = [(t_kps, t_boxes)]
        if cfg.use_velocity:
            candidates.append(self._predict(tracks, frame, t_kps, t_boxes))
        for p_kps, p_boxes in candidates:
            _, o = similarity_matrix(
                p_kps, t_scores, p_boxes, kps[pool], kp_scores[pool], boxes[pool], self._sigmas,
                oks_weight=1.0, keypoint_threshold=cfg.keypoint_threshold,
            )
            oks = np.maximum(oks, o)
        pairs = _assign(oks, cfg.reassociate_oks)
        for r, _ in pairs:
            self._reassociated += 1
            log.debug("frame %d: track %d re-associated after %d missed frames",
                      frame, tracks[r].track_id, tracks[r].misses)
        return pairs

    def _confirm(self, track: _Track) -> None:
        track.track_id = self._next_id
        self._next_id += 1
        self._confirmed += 1
