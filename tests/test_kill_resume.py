"""A tiny real meta-training run (``openrl-train`` in a subprocess) SIGKILLed inside a checkpoint write and
at a random moment of its meta-training loop, each resumed with the same command, ends bitwise identical
to an uninterrupted run (``best/`` and ``latest/optimizer.npy``, the validation history, the final
evaluation).

``benchmarks/kill_resume.py`` does the same at 10 moments; this is its smallest form.
"""

from __future__ import annotations

import pytest
from benchmarks import kill_resume

pytestmark = pytest.mark.slow


def test_random_kills_resume_bitwise_identical(tmp_path):
    result = kill_resume.run(tmp_path, kills=2, in_write=1, tail=0, seed=1, write_delay=0.0)
    assert all(result["control"]["identical"].values())  # two uninterrupted runs agree: the check can bite
    trials = result["trials"]
    assert [t["resume_returncode"] for t in trials] == [0, 0]
    assert trials[0]["landed"] == "checkpoint-write", trials[0]  # killed with the write under way
    assert (trials[0]["resumed_at_generation"] or 0) < trials[0]["anchor"][0]  # that checkpoint was not kept
    assert trials[1]["landed"] != "not-killed", trials[1]
    for t in trials:
        assert all(t["identical"].values()), t
