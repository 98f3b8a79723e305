"""Branch tests that choose per device: what makes a hard-coded CUDA device under them a
device-specific branch rather than a hard-code (TL101), and tests that ask a project helper about
the GPU's compute capability (TL702) and the capabilities a kernel supports; a hard-coded device
that a fallback right after corrects."""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.guards import CAPABILITIES, CAPABILITY_PROBES, mentions_cuda_probe
from torchlint.analysis.names import contains, dotted, last_name, snake_words

_GPU_WORDS = frozenset({"gpu", "gpus"})  # `args.use_gpu`, `opt.gpus[0] >= 0`
_COUNT_WORDS = frozenset({"num", "n", "count", "number", "total", "multi", "multiple", "single"})
_MAP_STRATEGIES = frozenset({"auto", "balanced", "balanced_low_0", "sequential"})  # accelerate's device_map values


def device_test(node: cst.CSTNode) -> bool:
    """A device comparison (`device == "gpu"`), a CUDA-ish string (`"CUDAExecutionProvider"`),
    or an availability helper (`is_mps_available()`): the branch is chosen per device."""
    if isinstance(node, cst.SimpleString):
        try:
            text = str(node.evaluated_value).lower()
        except Exception:
            return False
        # `"CUDAExecutionProvider"`, `"GPU" in instance_kind`, `method == "nvidia_rtx_vsr"` (an
        # NVIDIA-only upscaler the user chose), `backend == "tensorrt"`
        return any(word in text for word in ("cuda", "gpu", "nvidia", "tensorrt"))
    if isinstance(node, cst.Call):
        return "available" in snake_words(last_name(node.func) or "")
    if isinstance(node, (cst.Name, cst.Attribute)):
        # `if use_cuda:`, `Activity.CUDA in ...`, `if args.use_gpu:`: the user's or config's GPU choice
        name = last_name(node) or ""
        return "cuda" in name.lower() or _gpu_choice(name)
    if isinstance(node, cst.Comparison):
        # `device == "gpu"`, `x.device.type != "cpu"`, `int(self.device_id) != -1`; not
        # `device_map != "auto"`: a placement strategy says nothing about what device exists
        sides = (node.left, *(c.comparator for c in node.comparisons))
        strings = [side for side in sides if isinstance(side, cst.SimpleString)]
        if strings and all(str(side.evaluated_value) in _MAP_STRATEGIES for side in strings):
            return False
        return any(contains(side, _names_a_device) for side in sides) or _any_gpus(node)
    return False


def _any_gpus(test: cst.Comparison) -> bool:
    """`ColBERTConfig().total_visible_gpus > 0`, `args.n_gpu != 0`: whether there is a GPU at all
    (a count compared with 0, or `>= 1`); not `num_gpus > 1`, which splits work across GPUs."""
    if len(test.comparisons) != 1:
        return False
    left, (target,) = test.left, test.comparisons
    op, right = type(target.operator), target.comparator
    words = set(snake_words(last_name(left) or "")) if isinstance(left, (cst.Name, cst.Attribute)) else set()
    counted = bool(words & {"gpus", "ngpu", "ngpus"}) or ("gpu" in words and bool(words & _COUNT_WORDS))
    number = right.value if isinstance(right, cst.Integer) else None
    return counted and ((number == "0" and op in (cst.GreaterThan, cst.NotEqual, cst.Equal))
                        or (number == "1" and op in (cst.GreaterThanEqual, cst.LessThan)))


def _names_a_device(node: cst.CSTNode) -> bool:
    name = node.value if isinstance(node, cst.Name) else node.attr.value if isinstance(node, cst.Attribute) else None
    return isinstance(name, str) and ("device" in snake_words(name) or _gpu_choice(name) or name == "type")


def _gpu_choice(name: str) -> bool:
    """`use_gpu`, `gpu_id`, `gpus`: which GPU, or whether one; not `num_gpus` or `multi_gpus` (how many: MOSS's
    `if num_gpus > 1:` splits the model, its `else` still assumes one GPU)."""
    words = set(snake_words(name))
    return bool(words & _GPU_WORDS) and not words & _COUNT_WORDS


def asks_capability_helper(test: cst.BaseExpression, ctx) -> bool:
    """A call to a project function that reads the compute capability (`is_flash_attn_2_supported(
    device)` in this module or imported from another): the helper is the gate."""
    def helper(node: cst.CSTNode) -> bool:
        if not isinstance(node, cst.Call):
            return False
        local = ctx.index.functions.get(node.func.value) if isinstance(node.func, cst.Name) else None
        if local is not None:
            return contains(local.body, lambda n: isinstance(n, cst.Call)
                            and ctx.imports.qualname(n.func) in CAPABILITY_PROBES)
        qual = ctx.imports.qualname(node.func)
        facts = ctx.facts.function(qual) if ctx.facts is not None and qual else None
        return facts is not None and "capability" in facts.get("probes", ())
    return contains(test, helper)


def followed_by_fallback(ctx, assign: cst.CSTNode, names: list[str]) -> bool:
    """`device = "cuda"` followed at once by `if not torch.cuda.is_available(): device = "cpu"`:
    a selection with its fallback, not a hard-coded device."""
    stack = ctx.stack
    i = stack.index(assign) if assign in stack else -1
    line, block = (stack[i - 1], stack[i - 2]) if i >= 2 else (None, None)
    body = getattr(block, "body", None)
    if not isinstance(line, cst.SimpleStatementLine) or not isinstance(body, (list, tuple)) or line not in body:
        return False
    after = body[body.index(line) + 1:body.index(line) + 2]
    if bool(after) and isinstance(after[0], cst.If) and mentions_cuda_probe(after[0].test, ctx) \
            and contains(after[0].body, lambda n: _assigns(n, names)):
        return True
    return _corrected_by_own_method(ctx, assign, body[body.index(line) + 1:], names)


def _assigns(node: cst.CSTNode, names: list[str]) -> bool:
    return isinstance(node, (cst.Assign, cst.AnnAssign)) and any(
        last_name(t.target) in names for t in (node.targets if isinstance(node, cst.Assign) else [node]))


def _corrected_by_own_method(ctx, assign: cst.CSTNode, later: list, names: list[str]) -> bool:
    """`self.device = "cuda:0"` in a constructor that then calls `self.device_config()`, a method
    of the class that sets `self.device` again under a CUDA probe (to "mps" or "cpu" without
    CUDA): an initial value the class's own fallback corrects."""
    targets = assign.targets if isinstance(assign, cst.Assign) else [assign]
    if not ctx.classes or not all((dotted(t.target) or "").startswith("self.") for t in targets):
        return False
    cls = ctx.classes[-1]

    def corrects(node: cst.CSTNode) -> bool:
        if not (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)
                and dotted(node.func.value) == "self"):
            return False
        method = ctx.index.method(cls, node.func.attr.value)
        return method is not None and contains(method.body, lambda n: isinstance(n, cst.If) and mentions_cuda_probe(
            n.test, ctx) and contains(n, lambda m: _assigns(m, names)))

    return any(contains(statement, corrects) for statement in later)


def parse_capability_spec(spec: list[str]) -> set[tuple[int, int]]:
    """["9.x"], ["8.0", "9.0"], [">=8.0"] -> the supported capabilities from the reference list."""
    supported: set[tuple[int, int]] = set()
    for item in spec:
        item = str(item).strip()
        if item.startswith(">="):
            major, _, minor = item[2:].partition(".")
            floor = (int(major), int(minor or 0))
            supported |= {c for c in CAPABILITIES if c >= floor}
        elif item.endswith((".x", ".*")):
            supported |= {c for c in CAPABILITIES if c[0] == int(item[:-2])}
        else:
            major, _, minor = item.partition(".")
            supported.add((int(major), int(minor or 0)))
    return supported
