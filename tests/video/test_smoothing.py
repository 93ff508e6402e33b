"""One-Euro filter and per-track smoothing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from posekit.video.smoothing import OneEuroConfig, OneEuroFilter, PoseSmoother, smoothing_factor

from videotest_utils import make_poses, person


def reference_one_euro(
    xs: list[float], ts: list[float], min_cutoff: float, beta: float, d_cutoff: float
) -> list[float]:
    """Scalar transcription of Casiez et al. (2012), written independently of the module."""

    def alpha(cutoff: float, te: float) -> float:
        r = 2 * math.pi * cutoff * te
        return r / (r + 1)

    out = [xs[0]]
    x_prev, dx_prev = xs[0], 0.0
    for i in range(1, len(xs)):
        te = ts[i] - ts[i - 1]
        dx = (xs[i] - x_prev) / te
        a_d = alpha(d_cutoff, te)
        dx_hat = a_d * dx + (1 - a_d) * dx_prev
        cutoff = min_cutoff + beta * abs(dx_hat)
        a = alpha(cutoff, te)
        x_hat = a * xs[i] + (1 - a) * x_prev
        out.append(x_hat)
        x_prev, dx_prev = x_hat, dx_hat
    return out


def test_matches_reference_formulas() -> None:
    rng = np.random.default_rng(1)
    ts = np.cumsum(rng.uniform(0.02, 0.05, 200)).tolist()
    xs = (np.sin(np.array(ts) * 3) * 50 + rng.normal(0, 2, 200)).tolist()
    cfg = OneEuroConfig(min_cutoff=0.7, beta=0.02, d_cutoff=1.3)
    filt = OneEuroFilter(cfg)
    got = [float(filt(np.array([x]), t)[0]) for x, t in zip(xs, ts)]
    np.testing.assert_allclose(got, reference_one_euro(xs, ts, 0.7, 0.02, 1.3), rtol=1e-12, atol=1e-9)


def test_smoothing_factor() -> None:
    # alpha = 1 / (1 + tau / Te), tau = 1 / (2 pi fc)
    assert smoothing_factor(1.0, 1 / (2 * math.pi)) == pytest.approx(0.5)


def test_first_sample_passes_and_constant_stays() -> None:
    filt = OneEuroFilter()
    x = np.array([[3.0, 4.0], [5.0, 6.0]])
    np.testing.assert_array_equal(filt(x, 0.0), x)
    for i in range(1, 10):
        np.testing.assert_allclose(filt(x, i / 30), x)


def test_reduces_jitter_and_beta_reduces_lag() -> None:
    rng = np.random.default_rng(0)
    ts = np.arange(120) / 30.0
    noisy = 100 + rng.normal(0, 3, 120)
    filt = OneEuroFilter(OneEuroConfig(min_cutoff=1.0, beta=0.0))
    smoothed = np.array([filt(np.array([v]), t)[0] for v, t in zip(noisy, ts)])
    assert np.std(np.diff(smoothed[20:])) < 0.3 * np.std(np.diff(noisy[20:]))
    # A fast ramp: with beta > 0 the filter follows much more closely.
    ramp = 300.0 * ts
    lag = {}
    for beta in (0.0, 0.05):
        f = OneEuroFilter(OneEuroConfig(min_cutoff=1.0, beta=beta))
        out = np.array([f(np.array([v]), t)[0] for v, t in zip(ramp, ts)])
        lag[beta] = float(np.abs(out[60:] - ramp[60:]).mean())
    assert lag[0.05] < 0.3 * lag[0.0]


def test_repeated_timestamp_keeps_state() -> None:
    filt = OneEuroFilter()
    filt(np.array([0.0]), 0.0)
    a = filt(np.array([10.0]), 0.1)
    np.testing.assert_array_equal(filt(np.array([50.0]), 0.1), a)


def test_pose_smoother_per_track_and_retain() -> None:
    smoother = PoseSmoother(OneEuroConfig(min_cutoff=0.5, beta=0.0))
    p0 = make_poses([person(100, 200), person(300, 200), person(500, 200)]).replace(track_ids=np.array([1, 2, -1]))
    out0 = smoother(p0, 0.0)
    np.testing.assert_array_equal(out0.keypoints, p0.keypoints)
    shifted = p0.replace(keypoints=p0.keypoints + 10)
    out1 = smoother(shifted, 1 / 30)
    assert np.all(out1.keypoints[0] < shifted.keypoints[0])  # lagging behind the jump
    np.testing.assert_array_equal(out1.keypoints[2], shifted.keypoints[2])  # untracked: unchanged
    assert len(smoother) == 2
    smoother.retain({2})
    assert len(smoother) == 1
    # Track 1 restarts from scratch: first sample passes through.
    out2 = smoother(shifted.replace(keypoints=shifted.keypoints + 50), 2 / 30)
    np.testing.assert_allclose(out2.keypoints[0], shifted.keypoints[0] + 50)


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        OneEuroConfig(min_cutoff=0)
    with pytest.raises(ValueError):
        OneEuroConfig(beta=-1)
