"""Branch tests that choose per device: what makes a hard-coded CUDA device under them a
device-specific branch rather than a hard-code (TL101)."""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.names import contains, last_name, snake_words

_MAP_STRATEGIES = frozenset({"auto", "balanced", "balanced_low_0", "sequential"})  # accelerate's device_map values


def device_test(node: cst.CSTNode) -> bool:
    """A device comparison (`device == "gpu"`), a CUDA-ish string (`"CUDAExecutionProvider"`),
    or an availability helper (`is_mps_available()`): the branch is chosen per device."""
    if isinstance(node, cst.SimpleString):
        try:
            text = str(node.evaluated_value).lower()
        except Exception:
            return False
        return "cuda" in text or "gpu" in text  # `"CUDAExecutionProvider"`, `"GPU" in instance_kind`
    if isinstance(node, cst.Call):
        return "available" in snake_words(last_name(node.func) or "")
    if isinstance(node, (cst.Name, cst.Attribute)):
        return "cuda" in (last_name(node) or "").lower()  # `if use_cuda:`, `Activity.CUDA in ...`
    if isinstance(node, cst.Comparison):
        # `device == "gpu"`, `x.device.type != "cpu"`, `int(self.device_id) != -1`; not
        # `device_map != "auto"`: a placement strategy says nothing about what device exists
        sides = (node.left, *(c.comparator for c in node.comparisons))
        strings = [side for side in sides if isinstance(side, cst.SimpleString)]
        if strings and all(str(side.evaluated_value) in _MAP_STRATEGIES for side in strings):
            return False
        return any(contains(side, _names_a_device) for side in sides)
    return False


def _names_a_device(node: cst.CSTNode) -> bool:
    name = node.value if isinstance(node, cst.Name) else node.attr.value if isinstance(node, cst.Attribute) else None
    return isinstance(name, str) and ("device" in snake_words(name) or name == "type")
