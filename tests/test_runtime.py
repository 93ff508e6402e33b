"""Tests for posekit.runtime: the ONNX Runtime session factory."""

from __future__ import annotations

import numpy as np
import pytest

from posekit.runtime import make_session


def test_session_runs_with_each_option(models_dir):
    path = models_dir / "movenet-lightning_with_heatmaps.onnx"
    x = np.zeros((1, 192, 192, 3), np.int32)
    outs = []
    for kwargs in ({}, {"spinning": True}, {"optimization": "basic"}):
        session = make_session(path, 1, **kwargs)
        outs.append(session.run(None, {session.get_inputs()[0].name: x})[0])
    for out in outs[1:]:
        np.testing.assert_allclose(out, outs[0], rtol=1e-3, atol=1e-5)  # fusions reorder float sums


def test_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    with pytest.raises(RuntimeError, match="bad.onnx"):
        make_session(bad)
    with pytest.raises(ValueError, match="optimization"):
        make_session(bad, optimization="max")
