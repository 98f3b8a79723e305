"""Code roles (RULES.md, "Where rules apply"): what a file and each of its functions are for,
decided from evidence in the file's summary and its path, overridable by glob in config.
Each rule's YAML names the roles it applies to; a finding outside them is dropped."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Mapping

from torchlint.analysis.names import alnum, snake_words
from torchlint.analysis.tests import is_test_file
from torchlint.globs import is_excluded
from torchlint.vocabulary import Vocabulary

VENDORED_PARTS = frozenset({"third_party", "thirdparty", "third_part", "third-party", "3rdparty", "3rd_party",
                            "thirdparties", "vendor", "vendored", "_vendor", "external", "extern",
                            "repositories", "repos_static"})  # other repositories cloned or copied in
# Superseded copies kept beside the code people run (`oldversion/gradio_app.py`, `deprecated/`):
# the current code is elsewhere.
SUPERSEDED_PARTS = frozenset({"oldversion", "oldversions", "old_version", "old_versions", "old-version",
                              "deprecated", "obsolete", "archive", "archived", "backup", "backups"})
# `funasr_detach/`, `whisper_vendored/`, `rwkv_pip/`: a library's copy under its name and a word
# for copying (a copy even in a project named after that library: the word says so).
COPY_SUFFIXES = frozenset({"detach", "detached", "vendor", "vendored", "copy", "fork", "forked", "pip"})
# Path words of loss and criterion modules: they exist to be trained through (file and folder
# names only: a function `compute_loss` may well be a perplexity scorer).
TRAINING_PATH_WORDS = frozenset({"loss", "losses", "criterion", "criterions"})
BENCHMARK_WORDS = frozenset({"benchmark", "benchmarks", "bench", "benchmarking", "profile", "profiling", "latency"})
# Whole file names of timing scripts (`speed` alone is also a TTS setting: only the whole stem counts).
BENCHMARK_STEMS = frozenset({"speed", "speedtest", "speed_test", "latency", "throughput"})
EVALUATION_WORDS = frozenset({"eval", "evals", "evaluate", "evaluation", "evaluations", "evaluator", "evaluators",
                              "baseline", "baselines",  # other systems run to compare against
                              "judge",  # `llm_judge/`: answers generated for a judge to grade
                              # benchmarks' names: `humaneval_gen.py` writes completions to be scored
                              "humaneval", "humanevalplus", "mbpp", "mbppplus", "gsm8k", "mmlu", "cmmlu", "ceval",
                              "hellaswag", "truthfulqa", "winogrande", "ds1000"})
# Metric scripts (`metrics/compute_metrics.py`, `metric/cal_metric.py`): evaluation when they loop
# over a dataset (a server's `metrics.py` of Prometheus counters does not; `metric_depth/` is a
# kind of depth, so a singular `metric` counts only as a whole folder name).
METRIC_WORDS = frozenset({"metrics"})
METRIC_DIRS = frozenset({"metric", "metrics"})
# Folders of data pipelines (`datasets/`, `dataset_toolkits/`): Dataset classes, augmentation and
# dataset building, which feed training (whole folder names only: `load_dataset()` is no evidence).
DATASET_DIRS = frozenset({"dataset", "datasets", "dataset_toolkits", "dataset_tools", "dataset_creation",
                          "data_generation", "data_gen", "datagen", "synthetic_data", "data_preparation", "data_prep",
                          "data_collection", "data_construction"})
# A folder named for building or processing a dataset (`datasets_processing_scripts/`,
# `build_laion_coco_dataset/`): dataset construction, which feeds training. Not an app's
# `prepare_datasets/` steps, which its users run on their own machines (GPT-SoVITS made them
# fall back to the CPU upstream: two mined labels).
DATASET_WORDS = frozenset({"dataset", "datasets"})
BUILDING_WORDS = frozenset({"build", "building", "builder", "processing", "preprocessing", "process", "preprocess",
                            "creation", "create", "generation", "generate", "construction", "construct", "collection",
                            "curation", "filtering", "filter"})
TOOLING_WORDS = frozenset({"convert", "conversion", "converter", "export", "exporter", "quantize", "quantization",
                           "calibrate", "calibration", "delta", "merge", "consolidate"})
SCRIPT_WHY = "a script (`if __name__ == \"__main__\":`, no classes)"
INFERENCE_WORDS = frozenset({"demo", "demos", "app", "apps", "infer", "inference", "serve", "server", "serving",
                             "predict", "predictor", "example", "examples", "webui", "ui", "gradio", "streamlit",
                             "api", "worker", "runtime", "pipeline", "pipelines"})
WEB_PACKAGES = ("fastapi", "flask", "starlette", "aiohttp", "sanic", "litestar", "quart", "tornado", "grpc",
                "ray.serve", "bentoml", "uvicorn")


@dataclass(frozen=True)
class Role:
    role: str
    why: str


def project_path(path: str, root: Any = None) -> str:
    """`path` as the project sees it: relative to `root` (the config's folder, else the working
    directory), so that the folders a checkout sits in (`~/benchmarks/app/`, `/tmp/eval/`)
    say nothing about its files. A file outside `root` keeps what lies below the folder it
    shares with `root`."""
    if root is None:
        return path
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(str(root)))
    parts = PurePath(rel).parts
    while parts and parts[0] == "..":
        parts = parts[1:]
    return str(PurePath(*parts)) if parts else path


def _path_words(path: str) -> tuple[set[str], set[str], set[str]]:
    """(words of the directories, words of the file's stem, the directory names themselves)."""
    p = PurePath(path)
    dirs = [part for part in p.parts[:-1] if part not in (".", "..", "/")]
    return ({w for d in dirs for w in snake_words(d)}, set(snake_words(p.stem)), {d.lower() for d in dirs})


def file_role(path: str, summary: Mapping[str, Any] | None, vocab: Vocabulary,
              overrides: Mapping[str, str] | None = None, root: Any = None) -> Role:
    """The role of a whole file and the evidence for it."""
    for glob, role in (overrides or {}).items():
        if is_excluded(path, [glob], root):
            return Role(role, f"config: roles {glob!r}")
    path = project_path(path, root)
    dir_words, stem_words, dirs = _path_words(path)
    words = dir_words | stem_words
    ev = (summary or {}).get("evidence", {})
    imports = [target for _, target, _ in (summary or {}).get("imports", [])]
    if dirs & VENDORED_PARTS:
        return Role("vendored", f"path: {sorted(dirs & VENDORED_PARTS)[0]}/")
    if dirs & SUPERSEDED_PARTS:
        return Role("vendored", f"path: {sorted(dirs & SUPERSEDED_PARTS)[0]}/, superseded code kept for reference")
    copied = _vendored_copy(path, vocab, root)
    if copied:
        return Role("vendored", f"path: {copied}/, a copy of that library inside the project")
    other = _imported(imports, vocab.other_frameworks)
    if other and not _imported(imports, ("torch", *vocab.ml_packages, *vocab.model_packages)):
        return Role("foreign", f"imports {other[0]}, not torch")
    if is_test_file(path):
        return Role("tests", "path: a test file")
    if words & BENCHMARK_WORDS:
        return Role("benchmark", f"path word {sorted(words & BENCHMARK_WORDS)[0]!r}")
    if PurePath(path).stem.lower() in BENCHMARK_STEMS:
        return Role("benchmark", f"file name {PurePath(path).name!r}: a timing script")
    if ev.get("nccl"):
        return Role("distributed", "joins an NCCL process group")
    # `longbench/`, `mmbench/`: the folder of a benchmark's evaluation scripts
    suite = next((d for d in dirs if d.endswith("bench") and len(d) > len("bench") and d not in BENCHMARK_WORDS), None)
    loops = ev.get("dataset_loop") or ev.get("writes_results")
    if (words & METRIC_WORDS or dirs & METRIC_DIRS) and loops:
        return Role("evaluation", f"path word {sorted((words & METRIC_WORDS) | (dirs & METRIC_DIRS))[0]!r}, "
                                  "loops over a dataset")
    if words & EVALUATION_WORDS or suite:
        harness = next(iter(_imported(imports, vocab.evaluation_imports)), None)
        # a module (no `__main__`; or a package's module with classes beside a self-test block)
        if loops or harness or not (summary or {}).get("main") or (
                (summary or {}).get("classes") and _in_package_dir(root, path)):
            why = "loops over a dataset" if loops else f"runs {harness}" if harness else "a module of an evaluation tree"
            where = f"path word {sorted(words & EVALUATION_WORDS)[0]!r}" if words & EVALUATION_WORDS \
                else f"path: {suite}/, a benchmark suite"
            return Role("evaluation", f"{where}, {why}")
    built = sorted(d for d in dirs if d in DATASET_DIRS or (
        set(snake_words(d)) & DATASET_WORDS and set(snake_words(d)) & BUILDING_WORDS))
    if built:
        return Role("training", f"path: {built[0]}/, a data pipeline that feeds training")
    trainer = _imported(imports, vocab.training_imports)
    if words & (vocab.training_words | TRAINING_PATH_WORDS) or trainer:
        hits = sorted(words & (vocab.training_words | TRAINING_PATH_WORDS))
        return Role("training", f"path word {hits[0]!r}" if hits else f"imports {trainer[0]}")
    if stem_words & TOOLING_WORDS:
        return Role("tooling", f"file name word {sorted(stem_words & TOOLING_WORDS)[0]!r}")
    functions = (summary or {}).get("functions", {})
    if any(f.get("route") for f in functions.values()):
        return Role("serving", "defines route handlers")
    web = [w for w in WEB_PACKAGES if any(i == w or i.startswith(w + ".") for i in imports)]
    if web and ev.get("asyncio"):
        return Role("serving", f"imports {web[0]} and defines async handlers")
    if words & INFERENCE_WORDS:
        return Role("inference", f"path word {sorted(words & INFERENCE_WORDS)[0]!r}")
    if (summary or {}).get("main") and not (summary or {}).get("classes"):
        return Role("inference", SCRIPT_WHY)
    return Role("library", "no stronger evidence")


def _imported(imports: list[str], names: tuple[str, ...]) -> list[str]:
    """Those of `names` (packages or qualified names) the file imports, itself or below it."""
    return [t for t in names if any(i == t or i.startswith(t + ".") for i in imports)]


def _vendored_copy(path: str, vocab: Vocabulary, root: Any = None) -> str | None:
    """A folder named like a library projects copy in (`gradio_demo/detectron2/`,
    `musetalk/whisper/whisper/`, a root-level `cosyvoice/` or `funasr_detach/`), unless the
    project is that library: its root folder, or a folder above the copy, names it (a checkout
    of CosyVoice keeps its own `cosyvoice/`). A root-level folder counts only as a Python package
    of a known root."""
    parts = [p for p in PurePath(path).parts[:-1] if p not in (".", "..", "/")]
    if parts and parts[0] in ("src", "lib"):
        parts = parts[1:]
    owner = alnum(PurePath(os.path.abspath(str(root))).name) if root is not None else None
    for i, part in enumerate(parts):
        library = _copied_library(part.lower(), vocab)
        if library is None or (i == 0 and (owner is None or not _package(root, path, part))):
            continue  # at the root, only a Python package (`whisper/` of examples is no copy)
        if part.lower() != library or not any(alnum(library) in alnum(p) for p in [owner or "", *parts[:i]]):
            return part
    return None


def _in_package_dir(root: Any, path: str) -> bool:
    """An `__init__.py` sits beside `path` (under `root`): the file is a module of a package."""
    return root is not None and os.path.isfile(os.path.join(str(root), os.path.dirname(path), "__init__.py"))


def _package(root: Any, path: str, folder: str) -> bool:
    """`folder` (the first of `path`'s folders below `root`) holds an `__init__.py`."""
    top = PurePath(path).parts
    base = os.path.join(str(root), *top[:top.index(folder) + 1])
    return os.path.isfile(os.path.join(base, "__init__.py"))


def _copied_library(folder: str, vocab: Vocabulary) -> str | None:
    """The library a folder is named after: `whisper`, or `funasr` for `funasr_detach`."""
    if folder in vocab.vendored_packages:
        return folder
    head, _, tail = folder.rpartition("_")
    return head if head in vocab.vendored_packages and tail in COPY_SUFFIXES else None


def function_role(file: Role, summary: Mapping[str, Any], qual: str, vocab: Vocabulary) -> Role:
    """A function's role: its file's, unless the function itself says otherwise."""
    if file.role in ("vendored", "tests", "foreign") or file.why.startswith("config:"):
        return file
    facts = summary.get("functions", {}).get(qual, {})
    name = qual.rsplit(".", 1)[-1]
    if name.startswith("test") and (qual.count(".") == 0 or "Test" in qual.split(".")[-2]):
        return Role("tests", f"`{qual}` is a test (pytest naming)")
    top = qual.split(".", 1)[0]
    words = snake_words(top)
    if top.startswith("_") and words and (words[0].startswith("test") or words[-1] in ("test", "tests")) \
            and top not in summary.get("classes", {}):
        # `_test_bias()`, `_hevc_deadlock_test()`: a module's private self-test (and what it nests)
        return Role("tests", f"`{top}` is a module's private self-test")
    if facts.get("distributed"):
        return Role("distributed", f"`{qual}` {facts['distributed']}")
    if facts.get("training"):
        return Role("training", f"`{qual}` calls .{facts['training'][0]}()")
    trainer = _trainer(summary, qual)
    if trainer is not None:
        return trainer
    words = snake_words(name)
    name_words = set(words)
    if name_words & vocab.training_words and (not name_words & vocab.entry_points or words[-1] in vocab.training_words
                                              or _trains_before_entry(words, vocab)):
        # `finetune_step`, and `forward_train` / `get_image_embeds_train` (the training twin of an
        # inference method: the last word decides); `prepare_training_image_embeds` (for training)
        return Role("training", f"`{qual}` is named for training")
    if "drop" in words and "." in qual:
        # `token_drop`, `drop_path`: a module's random dropping of labels or paths, which its
        # forward applies only while training (or when asked to drop for guidance)
        return Role("training", f"`{qual}` drops inputs at random, a training-time regulariser")
    if file.role in ("library", "inference") and facts.get("route"):
        return Role("serving", f"`{qual}` is a route handler")
    return file


def _trains_before_entry(words: list[str], vocab: Vocabulary) -> bool:
    """A training word before the first entry-point word qualifies it: `training_image_embeds`
    are embeddings made for training (`score_training_samples` scores, it is inference)."""
    first = next((i for i, w in enumerate(words) if w in vocab.entry_points), len(words))
    return any(w in vocab.training_words for w in words[:first])


def _trainer(summary: Mapping[str, Any], qual: str) -> Role | None:
    """A method of a trainer: a class whose constructor wraps its network for a process group
    or builds its own optimizer (a runner's validation pass is part of its training run). A
    class handed an optimizer by its caller is not one."""
    owner = qual.rpartition(".")[0]
    if owner not in summary.get("classes", {}):
        return None
    init = summary.get("functions", {}).get(f"{owner}.__init__", {})
    if init.get("distributed"):
        return Role("distributed", f"`{qual}` is a method of `{owner}`, whose constructor {init['distributed']}")
    if init.get("optimizer"):
        return Role("training", f"`{qual}` is a method of `{owner}`, whose constructor builds {init['optimizer']}")
    return None


def main_block_role(file: Role, summary: Mapping[str, Any], imported: bool = False) -> Role:
    """The `if __name__ == "__main__":` block: a library module's self-test (a module that defines
    classes, or a module of a package; or a module of classes other project files import, in an
    inference folder too), else the script."""
    if file.role == "library" and (summary.get("classes") or file.why.startswith("a module of a package")):
        return Role("selftest", "the `__main__` block of a library module")
    if imported and summary.get("classes") and file.role in ("library", "inference") \
            and not file.why.startswith("config:"):
        return Role("selftest", "the `__main__` block of a module other project files import")
    return file
