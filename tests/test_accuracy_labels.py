"""The mined and judged label files never draw on repositories the dev set holds out."""

import importlib.util
from pathlib import Path

import pytest
import yaml

ACCURACY = Path(__file__).resolve().parent.parent / "bench" / "accuracy"


def _score_module():
    spec = importlib.util.spec_from_file_location("accuracy_score", ACCURACY / "score.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_held_out_list_is_read():
    names = _score_module().held_out()
    assert "lm-sys/FastChat" in names and "turboderp-org/exllamav3" in names
    assert not any(name.startswith("#") for name in names)


@pytest.mark.parametrize("labels", ["labels.yaml", "judged.yaml"])
def test_no_label_from_a_held_out_repository(labels):
    repos = {label["repo"] for label in yaml.safe_load((ACCURACY / labels).read_text())["labels"]}
    assert not repos & _score_module().held_out()
