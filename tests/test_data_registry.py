"""The registry is the one declaration of every dataset; datasets/ cards must agree with it."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from mitdl_util import cli
from mitdl_util.data import cards
from mitdl_util.data.registry import KINDS, REGISTRY, get_dataset
from mitdl_util.errors import MitdlError


def test_cards_agree_with_registry():
    """Does every file in datasets/ match what the registry renders (run `mitdl data cards --write` if not)?"""
    assert cards.check_cards() == []


def test_card_drift_is_detected(tmp_path):
    """Would an edited, missing or orphan card be reported?"""
    cards.write_cards(tmp_path)
    assert cards.check_cards(tmp_path) == []
    (tmp_path / "mnist.md").write_text("edited by hand\n")
    (tmp_path / "lfw-subset.md").unlink()
    (tmp_path / "orphan.md").write_text("?")
    assert cards.check_cards(tmp_path) == [
        "mnist.md differs from the registry", "lfw-subset.md is missing", "orphan.md has no registry entry"]


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_registry_entry_is_complete(name):
    """Does each entry say where it comes from, how it is checked, its licence, citation and fallback?"""
    ds = REGISTRY[name]
    assert ds.name == name and ds.kind in KINDS
    for field in ("title", "version", "description", "licence", "citation", "loader", "size"):
        assert getattr(ds, field).strip(), field
    assert ds.fallback is None or ds.fallback in REGISTRY
    if ds.kind == "download":
        assert ds.filename and ds.urls and all(u.startswith("https://") for u in ds.urls)
        assert ds.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", ds.sha256)
        assert ds.fallback, "a download needs an offline fallback"
    elif ds.kind == "package":
        assert ds.package
    else:
        assert ds.filename


def test_mnist_hash_is_the_one_keras_pins():
    """Is full MNIST pinned to the sha256 in Keras' own mnist loader?"""
    assert get_dataset("mnist").sha256 == "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"


def test_unknown_dataset_is_one_sentence():
    with pytest.raises(MitdlError, match=r"^Unknown dataset 'nope': use one of .*\.$"):
        get_dataset("nope")


def test_cli_list_shows_every_dataset(tmp_path, monkeypatch, capsys):
    """Does `mitdl data list` print name, size, availability and source for each dataset?"""
    monkeypatch.setenv("MITDL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MITDL_LOCAL_DATA", str(tmp_path / "nowhere"))
    assert cli.main(["data", "list"]) == 0
    out = capsys.readouterr().out
    for ds in REGISTRY.values():
        assert ds.name in out and ds.size in out
    assert "not cached (hash not pinned)" in out and "shipped" in out and "absent" in out
    assert cli.main(["data", "cards"]) == 0


def test_import_stays_light():
    """Does `import mitdl_util.data` leave TensorFlow, scikit-image, mlxtend and requests unimported?"""
    code = ("import sys, mitdl_util, mitdl_util.data; "
            "print([m for m in ('tensorflow', 'keras', 'skimage', 'mlxtend', 'requests') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
