"""The finished optimizers published beside the race results are the ones those results describe.

``python -m benchmarks.es_race --publish`` copies every finished run's ``best/`` to
``benchmarks/results/optimizers/es_race_<track>/<label>/seed<S>/``; users re-evaluate them with
``openrl-eval`` on seeds of their own. Each must load into the architecture its run trained, be finite,
and carry the generation and validation score its results JSON reports for that run.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from benchmarks.common import RESULTS

from openrl.optimizers.weights import META_FILE, OPTIMIZER_FILE

DIRS = sorted((RESULTS / "optimizers").glob("es_race_*/*/seed*"))


def _race(track_dir: str) -> dict:
    return json.loads((RESULTS / f"{track_dir}.json").read_text())


@pytest.mark.skipif(not DIRS, reason="no optimizers published under benchmarks/results/optimizers")
@pytest.mark.parametrize("d", DIRS, ids=[str(d.relative_to(RESULTS)) for d in DIRS])
def test_a_published_optimizer_is_the_run_its_json_reports(d):
    meta = json.loads((d / META_FILE).read_text())
    flat = np.load(d / OPTIMIZER_FILE)
    assert flat.dtype == np.float32 and flat.shape == (meta["num_meta_params"],)
    assert np.all(np.isfinite(flat)) and np.any(flat != 0)
    assert meta["source"].startswith("openrl-train ") and "/work/" not in json.dumps(meta)
    track, label, seed = d.parent.parent.name, d.parent.name, d.name.removeprefix("seed")
    run = _race(track)["entries"][label]["runs"][seed]
    assert meta["source"] == run["command"]
    if "selection" in meta:  # meta.selection=top_k: the re-run winner, one of the validated means
        assert meta["generation"] == meta["selection"]["chosen_generation"]
        assert meta["generation"] in [g for g, _ in run["validation"]]
    else:  # best_validated
        assert meta["generation"] == run["best_generation"]
        assert meta["validation_score"] == pytest.approx(run["best_validation"])


@pytest.mark.skipif(not DIRS, reason="no optimizers published under benchmarks/results/optimizers")
def test_every_run_of_a_published_race_has_its_optimizer():
    for track in {d.parent.parent.name for d in DIRS}:
        for label, entry in _race(track)["entries"].items():
            for seed in entry["runs"]:
                assert (RESULTS / "optimizers" / track / label / f"seed{seed}" / OPTIMIZER_FILE).is_file(), (
                    f"{track} {label} seed {seed}: its optimizer was not published"
                )
