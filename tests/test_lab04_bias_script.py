"""benchmarks/lab04_bias.py's own arithmetic: the probability cap it tried and the tables it writes (their numbers
are quoted in the notebook and in benchmarks/lab04_dbvae_tried.md)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="module")
def script():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "lab04_bias.py"
    spec = importlib.util.spec_from_file_location("lab04_bias", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cap_probabilities_caps_every_face_and_keeps_a_distribution(script):
    p = np.r_[0.9, 0.05, 0.03, 0.02, np.zeros(6)]
    capped = script.cap_probabilities(p, 2.0)  # no face above 2 × 1/10
    assert capped.sum() == pytest.approx(1.0)
    assert capped.max() <= 0.2 + 1e-12 and capped[0] == pytest.approx(0.2)
    assert np.all(np.diff(capped[:4]) <= 1e-12)  # the order of the others is kept
    uniform = np.full(8, 1 / 8)
    assert script.cap_probabilities(uniform, 1.0) == pytest.approx(uniform)
    assert script.cap_probabilities(np.r_[0.3, 0.7], 50.0) == pytest.approx([0.3, 0.7])  # nothing over: unchanged
    with pytest.raises(ValueError, match="at least 1"):
        script.cap_probabilities(p, 0.5)


def _row(seed, method, gap, dark_per_epoch):
    light = 0.98
    return {"seed": seed, "method": method, "gap": gap, "light_face_recall": light, "dark_face_recall": light - gap,
            "nonface_accuracy": 0.97, "accuracy": 0.9, "natural_minority_share": 0.01,
            "minority_drawn": [0.01] * len(dark_per_epoch), "minority_probability": [0.01] * len(dark_per_epoch),
            "colour_histogram_lr": 0.6, "effective_faces": [910.0] * len(dark_per_epoch), "train_faces": 910,
            "per_epoch": [{"dark_face_recall": d} for d in dark_per_epoch]}


def test_the_tables_say_how_the_weights_were_kept_and_how_much_recall_moved_between_epochs(script):
    standard = [0.0] * 10
    db = [[0, 0, 0, 0, 0.5, 0.8, 0.7, 0.5, 0.6, 0.6], [0, 0, 0.2, 0.4, 0.5, 0.5, 0.75, 0.6, 0.79, 0.44]]
    results = {
        "meta": {"command": "python benchmarks/lab04_bias.py --per-epoch", "seeds": [0, 1], "epochs": 10,
                 "minutes": 1.0, "platform": "test"},
        "experiment2": {
            "rows": [_row(0, "standard", 0.9, standard), _row(0, "dbvae-product", 0.4, db[0]),
                     _row(1, "standard", 0.8, standard), _row(1, "dbvae-product", 0.3, db[1])],
            "source": "faces-ccby",
            "recipe": {"dark_gain": 0.1, "dark_gamma": 2.2, "minority_share": 0.01, "dark_nonface_share": 0.6,
                       "version": 2, "augment": True, "augmentation": "jitter", "vae_on_original": True,
                       "weight_average": 0.99}}}
    for row, last_gap in zip(results["experiment2"]["rows"], (0.95, 0.5, 0.85, 0.2), strict=True):
        row["per_epoch"][-1]["gap"] = last_gap
    text = script.markdown(results)
    assert "keeps a moving average of its weights (momentum 0.99)" in text
    line = next(ln for ln in text.splitlines() if ln.startswith("| dbvae-product | 0.00 ± 0.00"))
    # the last four epochs: seed 0 changes 0.2, 0.1, 0; seed 1 0.15, 0.19, 0.35 -> mean 0.165, largest 0.35
    assert line.endswith("| 0.17 (largest 0.35) |"), line
    assert "| 0.65 ± 0.21 |" in line  # epoch 6: mean ± sd of 0.8 and 0.5
    # last step: reductions 1 - 0.5/0.95 and 1 - 0.2/0.85; kept: 1 - 0.4/0.9 and 1 - 0.3/0.8
    kept = next(ln for ln in text.splitlines() if ln.startswith("| dbvae-product | 0.350 ± 0.212 |"))
    assert kept == "| dbvae-product | 0.350 ± 0.212 | 0.350 ± 0.071 | 0.619 ± 0.206 | 0.590 ± 0.049 |", kept
    results["experiment2"]["recipe"]["weight_average"] = 0.0
    for row in results["experiment2"]["rows"]:
        del row["per_epoch"]
    text = script.markdown(results)
    assert "moving average" not in text and "largest change" not in text


def test_the_notebook_trains_experiment_2_as_the_script_does(script):
    """The tables the notebook quotes come from the script: the notebook's experiment 2 must keep the same weights
    (moving average, same momentum), epochs and augmentation, or its one run stops being one of the table's seeds."""
    import re

    import nbformat

    path = Path(__file__).resolve().parents[1] / "solutions" / "04_facial_detection.ipynb"
    cells = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    setup = next(c for c in cells if "bias.load_illumination_bias(" in c)
    assert float(re.search(r"^WEIGHT_AVERAGE = ([\d.]+)", setup, re.M).group(1)) == script.WEIGHT_AVERAGE
    assert int(re.search(r"^BENCH_EPOCHS = (\d+)", setup, re.M).group(1)) == script.EPOCHS
    from mitdl_util import face_augment

    assert script.AUGMENTATIONS[script.EXPERIMENT2_AUGMENTATION] is face_augment.geometric_jitter
    trained = [c for c in cells if "facelab.train(" in c and "bench.x_train" in c]
    assert len(trained) == 2  # the standard CNN and the DB-VAE
    for cell in trained:
        assert "weight_average=WEIGHT_AVERAGE" in cell and "augment_images=face_augment.geometric_jitter" in cell
        assert "epochs=BENCH_EPOCHS" in cell


def test_the_notebooks_epoch_to_epoch_example_is_a_pilot_seed_of_the_per_epoch_table():
    """The notebook explains the weight averaging with one pilot seed's dark-face recall over its last four epochs;
    those numbers must be a row of benchmarks/lab04_per_epoch.json (last step's weights, DB-VAE)."""
    import json
    import re

    import nbformat

    root = Path(__file__).resolve().parents[1]
    rows = json.loads((root / "benchmarks" / "lab04_per_epoch.json").read_text("utf-8"))["experiment2"]["rows"]
    cells = nbformat.read(root / "solutions" / "04_facial_detection.ipynb", as_version=4).cells
    text = " ".join(next(c.source for c in cells if "moving average of their weights" in c.source).split())
    quoted = re.search(r"pilot seeds, ([\d.]+), ([\d.]+), ([\d.]+) and ([\d.]+) over the last four epochs", text)
    assert quoted, text
    runs = [[round(e["dark_face_recall"], 2) for e in r["per_epoch"][-4:]] for r in rows if r["method"] == "dbvae-product"]
    assert [float(v) for v in quoted.groups()] in runs
