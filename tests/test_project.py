"""The project phase: summaries joined across modules answer what one file cannot see.

Each folder of fixtures/projects/ is a small project; its files' `# expect:` annotations are the
findings of a run over the whole folder, compared exactly. What a file says linted on its own
is asserted beside, so each case shows the fact that changed the answer."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, run_cli
from torchlint.analysis.project import ProjectFacts
from torchlint.analysis.summary import summarise
from torchlint.config import Config, load_config
from torchlint.lint import Linter
from torchlint.session import open_cache, run
from torchlint.testing import compare
from torchlint.vocabulary import load as load_vocabulary

PROJECTS = FIXTURES / "projects"
CASES = sorted(p.name for p in PROJECTS.iterdir() if p.is_dir())


def _run(linter: Linter, root: Path, cache=None):
    return run(linter, [str(root)], jobs=1, cache=cache)


@pytest.mark.parametrize("case", CASES)
def test_project_findings_match_annotations(case, catalog, monkeypatch):
    root = PROJECTS / case
    monkeypatch.chdir(root)
    config = load_config(root / "pyproject.toml") if (root / "pyproject.toml").exists() else Config(root=root)
    linter = Linter(catalog, list(catalog), config)
    result = run(linter, ["."], jobs=1)
    mismatches = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        found = [f for f in result.findings if f.path == rel]
        mismatches += compare(rel, path.read_text(), found)
    assert not mismatches, "\n".join(map(str, mismatches))


def _alone(linter: Linter, path: Path) -> list[tuple[int, str]]:
    return [(f.line, f.rule) for f in linter.lint_source(str(path), path.read_bytes()).findings]


@pytest.mark.parametrize("file, line, rule", [
    # the callers in worker.py run generate() under inference_mode: alone, it is a finding
    ("callers_no_grad/pkg/pipeline.py", 6, "TL301"),
    # ... and the pipeline's no-grad __call__ reaches this helper through two others of its module
    ("caller_chain/pkg/prompt_embeddings.py", 7, "TL301"),
    # alone, hubert.py's @torch.no_grad() forward is unknown: the bare call is a finding
    ("callee_no_grad/voice/clone.py", 10, "TL301"),
    # alone, SpeechModel.from_pretrained is unknown; in the project it hands its arguments to
    # FunASR's builder, which falls back to the CPU itself
    ("falls_back_wrapper/demo.py", 4, "TL101"),
    # alone, nothing says where these run; in the project, cog.yaml (`gpu: true`) and a
    # Dockerfile on a CUDA image (through a stage alias) do
    ("deployments/predict.py", 9, "TL101"),
    ("deployments/docker/infer.py", 4, "TL101"),
    ("deployments/models/ops/check_op.py", 4, "TL101"),
    # alone, nothing says where it runs; in the project requirements.txt needs torchac_cuda,
    # a CUDA build with no CPU wheel
    ("extension_requirement/kvstore/backend.py", 9, "TL101"),
    # alone, the load takes float32; in the project the loader builds every pipeline under
    # `set_default_torch_dtype(config.dtype)`
    ("default_dtype_loader/engine/image_pipeline.py", 10, "TL402"),
    # alone, nothing turns grad off; in the project the package registers ComfyUI nodes, whose
    # host runs them under inference_mode
    ("registered_nodes/janus_nodes/nodes/generation.py", 12, "TL301"),
    # alone, the base class (through `from vision_base import *`) is unknown: the async call
    # is a finding; in the project its constructor turns grad off for the loop's thread
    ("grad_off_constructor/backend/llava.py", 15, "TL301"),
    # alone, nothing says util.py needs CUDA; in the project it imports a module that refuses
    # to load without it
    ("fp8_project/util.py", 8, "TL101"),
    # alone, nothing says where it runs; in the project a Cog template (`gpu: true`) runs
    # predict.py, the only importer of flux_predictor.py
    ("serving_platforms/cog_template/flux_predictor.py", 7, "TL101"),
    # ... and only a handler that joins an NCCL group imports tp_llama/generate.py (the sibling
    # example's `from generate import` is its own, absent module, not this one)
    ("serving_platforms/examples/tp_llama/generate.py", 6, "TL101"),
    # alone, nothing says the worker runs in a CUDA image that installs xformers and accelerate
    ("serving_platforms/sdxl_worker/handler.py", 9, "TL501"),
    # alone, the transformers version is unknown (float32 default assumed); in the project,
    # requirements.txt asks for transformers >= 5.0, whose default dtype is the checkpoint's
    ("declared_versions/tx5/app.py", 8, "TL402"),
    # alone, SpeechModel.generate is unknown: a model's generate() output may be on the device;
    # in the project it returns `torch.from_numpy(...)`, a CPU tensor
    ("host_results/app.py", 15, "TL302"),
    # alone, T5EncoderModel is unknown; in the project its constructor freezes the model
    ("frozen_encoder/wan/text2video.py", 14, "TL301"),
    # alone, nothing says an envd build file installs CUDA on every path (and accelerate)
    ("serving_platforms/envd_gpu/server.py", 10, "TL501"),
    # alone, nothing says a Truss config.yaml asks for an A10G (and installs xformers): not for
    # its model code, nor for a package bundled six folders below it
    ("serving_platforms/truss_a10g/model/model.py", 9, "TL102"),
    ("serving_platforms/truss_a10g/model/model.py", 14, "TL101"),
    ("serving_platforms/truss_a10g/model/model.py", 15, "TL501"),
    ("serving_platforms/truss_a10g/model/model.py", 17, "TL401"),
    ("serving_platforms/truss_a10g/packages/helpers/deep/er/still/inference.py", 6, "TL101"),
    # alone, nothing says the module it imports touches the GPU as it loads
    ("refuses_at_import/app.py", 8, "TL201"),
    # ... or imports fairscale's tensor-parallel layers, a CUDA-only package, as it loads
    ("refuses_at_import/tp_llama/generation.py", 12, "TL101"),
    # ... or asks the CUDA runtime for its current device as it loads
    ("refuses_at_import/video_app.py", 8, "TL201"),
    # alone, nothing says the engine module it imports compiles CUDA kernels as it loads
    ("compiled_kernels/engine/worker.py", 8, "TL101"),
    # alone, nothing says another module imports pitch.py (its `__main__` block is a self-test)
    ("self_checks/infer/pitch.py", 15, "TL102"),
    # alone, nothing says the helper the launcher calls joins an NCCL group
    ("launcher/demo/animate_dist.py", 10, "TL101"),
    # alone, nothing says the package is a ComfyUI node package (run under inference_mode)
    ("comfy_nodes/vfi_models/interpolate.py", 7, "TL301"),
    # alone, nothing says the package's requirements install flash-attn
    ("declared_kernels/required/dit_block.py", 3, "TL702"),
    # alone, nothing says the one caller's class calls it only under no_grad (process())
    ("own_class_no_grad/voice/utils/decode.py", 9, "TL301"),
    # alone, nothing says the imported base class is an nn.Module (its chain defines forward)
    ("module_base_elsewhere/shapes/transmitter/pc_encoder.py", 12, "TL301"),
    # alone, nothing says the app calls the helper, re-exported by `from .tools import *`, under
    # inference_mode
    ("star_reexport/hart/utils/tools.py", 6, "TL301"),
    # alone, nothing says the ray-marching module it imports binds its backend to the installed CUDA
    # extension or, failing that, to one the project compiles with nvcc as it loads
    ("jit_fallback/nerf/renderer.py", 7, "TL101"),
    # alone, nothing says the imported helper reads the GPU's compute capability
    ("capability_helper/ocr/recognition/loader.py", 10, "TL702"),
    # alone, nothing says the alternative Cog predictor runs in the GPU container
    ("serving_platforms/cog_alternatives/predict_i2v.py", 14, "TL101"),
    # alone, nothing says the texture package ships a CUDA extension (texgen/rasterizer/setup.py)
    # that its renderer imports: the package's sibling modules run where CUDA is
    ("shipped_extension/texgen/paint.py", 10, "TL101"),
    ("shipped_extension/texgen/paint.py", 17, "TL201"),
    ("shipped_extension/texgen/utils/upscale.py", 9, "TL101"),
    # alone, nothing says these folders are other projects' roots copied in: a README, a
    # .gitignore and a conda environment of another name; a licence, README and requirements
    ("nested_copy/ControlNet_nightly/gradio_canny.py", 4, "TL101"),
    ("nested_copy/adapter_llm/ImageBind/imagebind_model.py", 8, "TL101"),
    # ... or a licence, a README and requirements, the .gitignore left behind (a bundled copy)
    ("nested_copy/depth_tools/ddepth_anything_v2/app.py", 3, "TL502"),
    # ... or a licence, a README and a conda environment of another name (a benchmark's repository)
    ("nested_copy/vqa_tools/aokvqa/encode_vocab.py", 4, "TL102"),
    # ... or a licence beside torch.hub's hubconf.py (DINO's root, kept as metric tooling)
    ("nested_copy/metric/dino/visualize_attention.py", 5, "TL102"),
    # ... or that trl/ is a copy of the library (its `__init__.py` declares a release version)
    ("nested_copy/trl/modeling_base.py", 5, "TL102"),
    # alone, nothing says setup.py builds quantkit._C for CUDA only: the module importing it
    # cannot load without CUDA, nor can its package's other modules, nor what imports them
    ("extension_package/quantkit/models/transformer.py", 16, "TL101"),
    ("extension_package/quantkit/pipelines/edit.py", 7, "TL101"),
    ("extension_package/apps/t2i/generate.py", 7, "TL101"),
    # ... and the decoder block needs CUDA already, so its flash-attn import adds no failure;
    # the buffers module is imported by it alone (setup.py merely imports CppExtension)
    ("extension_package/quantkit/models/block.py", 2, "TL702"),
    ("extension_package/runtime/buffers.py", 6, "TL101"),
    # alone, nothing says the module it imports defines Triton kernels (GPU-only launches)
    ("launched_kernels/engine/model.py", 9, "TL101"),
    # alone, nothing says the project is a GPU engine (its own Triton kernels, vLLM pinned)
    ("pinned_engine/engine/tokens.py", 8, "TL101"),
    # the base class shuts the executor down, a helper of utils/ clears the cache
    ("base_class/backends/llama.py", 12, "TL603"),
    ("base_class/backends/llama.py", 22, "TL303"),
    # alone, `devices.inference_context` is an unknown context manager (the alias is in devices.py)
    ("grad_alias/app/tagger.py", 12, "TL301"),
])
def test_alone_the_file_cannot_see_the_fact(file, line, rule, catalog):
    linter = Linter(catalog, list(catalog), Config())
    assert (line, rule) in _alone(linter, PROJECTS / file)


def test_alone_a_project_loader_is_an_unknown_call(catalog):
    """Alone, `build_synthesizer()` could return anything; in the project its summary says it
    returns the model it placed on a device: dropping it is TL303's business, and its outputs
    live on the device (TL302)."""
    linter = Linter(catalog, list(catalog), Config())
    assert _alone(linter, PROJECTS / "project_loader/tts/model.py") == []
    assert _alone(linter, PROJECTS / "project_loader/tts/inpaint.py") == []


def test_alone_an_imported_device_helper_is_unknown(catalog):
    linter = Linter(catalog, list(catalog), Config())
    assert _alone(linter, PROJECTS / "device_helper/src/app/routes/models.py") == []


def test_a_kernel_wrapper_is_judged_by_its_importers(catalog):
    """Alone, a module that wraps a kernel leaves the fallback to whoever imports it; in the
    project, kernels.py is imported without a guard (reported, see its annotation) while
    flash_attention.py is imported in try/except everywhere (silent)."""
    linter = Linter(catalog, list(catalog), Config())
    assert _alone(linter, PROJECTS / "guarded_wrapper/models/kernels.py") == []
    assert _alone(linter, PROJECTS / "guarded_wrapper/models/flash_attention.py") == []


# ----- the queries, on summaries ------------------------------------------------------------

def _facts(root: Path) -> ProjectFacts:
    summaries = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent).as_posix()
        try:
            summaries[rel] = summarise(ast.parse(path.read_bytes()))
        except SyntaxError:
            summaries[rel] = None
    return ProjectFacts(summaries, load_vocabulary())


def test_lookup_follows_absolute_relative_src_layout_and_reexports():
    facts = _facts(PROJECTS / "reexport")
    serve = facts.for_file("reexport/serve.py")
    kind, qual, data = serve.lookup("pkg.pick_device")
    assert (kind, qual, data["path"]) == ("function", "pick_device", "reexport/pkg/core/device.py")
    assert data["selects_device"] is True
    routes = _facts(PROJECTS / "device_helper").for_file("device_helper/src/app/routes/models.py")
    assert routes.function("app.utils.device.get_optimal_device")["probes"] == ["cuda", "mps"]
    llama = _facts(PROJECTS / "base_class").for_file("base_class/backends/llama.py")
    assert llama.function("..utils.memory.release_gpu_memory")["clears_cache"] is True
    assert llama.method(".base.Backend", "unload")["shuts_down"] == ["self._executor"]
    assert llama.lookup("transformers.AutoModelForCausalLM") is None  # third-party: unknown
    star = _facts(PROJECTS / "grad_off_constructor").for_file("grad_off_constructor/backend/llava.py")
    assert star.method("VisionBase", "__init__")["grad_off"] is True  # through `from vision_base import *`
    assert star.lookup("Llava") is None  # defined here, not looked up in the star-imported module


def test_import_cycles_end_in_unknown():
    facts = _facts(PROJECTS / "cycle")
    assert facts.for_file("cycle/a.py").lookup("b.helper") is None
    assert facts.for_file("cycle/b.py").lookup("a.run")[0] == "function"


def test_callers_grad_context_and_import_guards():
    facts = _facts(PROJECTS / "callers_no_grad")
    pipeline = facts.for_file("callers_no_grad/pkg/pipeline.py")
    assert pipeline.callers_disable_grad("generate") is True
    assert pipeline.callers_disable_grad("score") is False  # worker.rank calls it with grad on
    assert pipeline.callers_disable_grad("nobody_calls_this") is False
    wrapper = _facts(PROJECTS / "guarded_wrapper")
    assert wrapper.for_file("guarded_wrapper/models/flash_attention.py").imported_only_guarded() is True
    assert wrapper.for_file("guarded_wrapper/models/kernels.py").imported_only_guarded() is False


def test_a_file_that_does_not_parse_has_no_summary_and_is_reported(catalog, monkeypatch):
    monkeypatch.chdir(PROJECTS / "broken")
    linter = Linter(catalog, [catalog.rules["TL302"]], Config(root=PROJECTS / "broken"))
    result = run(linter, ["."], jobs=1)
    assert [(f.path, f.rule) for f in result.findings] == [("no_rule_prefilter_matches.py", "TL000")]


def test_consulted_facts_are_recorded_and_rechecked():
    facts = _facts(PROJECTS / "callers_no_grad")
    pipeline = facts.for_file("callers_no_grad/pkg/pipeline.py")
    pipeline.callers_disable_grad("generate")
    consulted = dict(pipeline.consulted)
    assert list(consulted) == ["callers:callers_no_grad/pkg/pipeline.py|generate"]
    assert pipeline.still(consulted)
    changed = dict(facts.summaries)
    worker = changed["callers_no_grad/pkg/worker.py"]
    for call in worker["functions"]["Worker.step"]["calls"]:
        call["no_grad"] = False
    other = ProjectFacts(changed, load_vocabulary()).for_file("callers_no_grad/pkg/pipeline.py")
    assert not other.still(consulted)


# ----- the cache: one file changed re-lints the files whose facts changed ----------------------

def test_a_changed_caller_relints_the_callee_and_matches_a_cold_run(tmp_path, catalog, monkeypatch):
    root = tmp_path / "proj"
    shutil.copytree(PROJECTS / "callers_no_grad", root)
    (root / "pyproject.toml").write_text("[tool.torchlint]\n")
    monkeypatch.chdir(root)
    linter = Linter(catalog, list(catalog), Config(path=root / "pyproject.toml", root=root))
    cache = open_cache(linter, root)
    first = run(linter, ["."], jobs=1, cache=cache)
    assert [(f.path, f.line) for f in first.findings] == [("pkg/pipeline.py", 10)]
    worker = root / "pkg" / "worker.py"
    worker.write_text(worker.read_text().replace("with torch.inference_mode():", "if True:"))
    warm = run(linter, ["."], jobs=1, cache=cache)
    cold = run(linter, ["."], jobs=1)
    assert warm.findings == cold.findings
    assert [(f.path, f.line) for f in warm.findings] == [("pkg/pipeline.py", 6), ("pkg/pipeline.py", 10)]


def test_project_phase_reaches_files_outside_the_linted_path_of_a_configured_project(tmp_path):
    root = tmp_path / "proj"
    shutil.copytree(PROJECTS / "callers_no_grad", root)
    (root / "pyproject.toml").write_text("[tool.torchlint]\n")
    # pre-commit style: only the callee is named; its callers still count
    proc = run_cli("check", "--no-cache", "--format", "json", "pkg/pipeline.py", cwd=root)
    assert [(f["line"], f["rule"]) for f in json.loads(proc.stdout)] == [(10, "TL301")], proc.stderr


def test_alone_super_delegates_to_an_unknown_base(catalog):
    """`super().unload()` counts as clearing when the base is unknown; the project knows
    Backend.unload does not clear, so there the drop is a finding (line 35)."""
    linter = Linter(catalog, list(catalog), Config())
    assert (35, "TL303") not in _alone(linter, PROJECTS / "base_class/backends/llama.py")


# ----- roles ------------------------------------------------------------------------------------

def test_roles_command_names_each_role_and_its_evidence():
    proc = run_cli("roles", ".", "--format", "json", cwd=PROJECTS / "roles")
    assert proc.returncode == 0, proc.stderr
    roles = {e["path"]: (e["role"], e["why"]) for e in json.loads(proc.stdout)}
    assert {p: r for p, (r, _) in roles.items()} == {
        "benchmarks/bench_attention.py": "benchmark", "eval/evaluate_vqa.py": "evaluation",
        "baselines/openvoice_baseline.py": "evaluation", "extract_distill_data.py": "training",
        "sampler/sampling.py": "library", "sampler/lm.py": "library", "sampler/__init__.py": "library",
        "launch.py": "distributed", "legacy/old_server.py": "vendored", "serve/app.py": "serving",
        "tests/test_model.py": "tests", "train.py": "training", "speed.py": "benchmark",
        "third_part/facelib/detector.py": "vendored", "losses/perceptual.py": "training",
        "gradio_demo/detectron2/config/defaults.py": "vendored", "gradio_demo/rife/warplayer.py": "vendored",
        "cli/evaluate.py": "evaluation", "cli/stream.py": "inference", "longbench/pred.py": "evaluation",
        "trainer_gui/sd-scripts/library/model_util.py": "vendored", "ldm/modules/karlo/sampler.py": "vendored",
        "cosyvoice/__init__.py": "vendored", "cosyvoice/cli/__init__.py": "vendored",
        "cosyvoice/cli/model.py": "vendored", "funasr_detach/__init__.py": "vendored",
        "funasr_detach/auto/auto_model.py": "vendored", "whisper/streaming/serve_whisper.py": "inference",
        "tuning/utils.py": "training", "ultralytics/__init__.py": "vendored", "ultralytics/validator.py": "vendored",
        "RAFT/__init__.py": "vendored", "RAFT/demo.py": "vendored", "fastai/__init__.py": "vendored",
        "llava/__init__.py": "vendored", "llava/eval/run_llava.py": "vendored",
        "metrics/compute_metrics.py": "evaluation", "serve/metrics.py": "inference",
        "metric/cal_metric_video.py": "evaluation", "oldversion/gradio_app_v1.py": "vendored",
        "archive/server/app.py": "vendored",
        "datasets_processing_scripts/build_webdocs/filter_perplexity.py": "training",
        "smoltalk/pipeline.py": "training", "m4/testing_utils.py": "tests",
        "tests_and_fun/toy_generate.py": "tests", "oneflow_recipe/train_graph.py": "foreign",
        "code_eval/humaneval_gen.py": "evaluation",
        "metric_depth/depth_to_pointcloud.py": "inference",
        "voice_conversion/fairseq/__init__.py": "vendored", "voice_conversion/fairseq/emformer.py": "vendored",
        "latency_testing/cascaded_system.py": "benchmark",
        "model_tools/__init__.py": "library", "model_tools/llava_eval.py": "evaluation",
        "synthetic_data/generate_audio.py": "training", "subject_reg/main.py": "training",
        "scripts/base_eval.py": "library",  # no package around it: an evaluation script's own classes
    }
    assert roles["legacy/old_server.py"][1] == "config: roles 'legacy/*'"
    assert roles["speed.py"][1] == "file name 'speed.py': a timing script"
    assert "loops over a dataset" in roles["eval/evaluate_vqa.py"][1]
    assert roles["cli/evaluate.py"][1] == "path word 'evaluate', runs simuleval"  # the harness loops
    text = run_cli("roles", "train.py", cwd=PROJECTS / "roles").stdout
    assert text.splitlines()[0] == "train.py: training (path word 'train')"


def test_a_checkout_named_after_a_copied_library_owns_its_package(tmp_path):
    """CosyVoice's own checkout keeps `cosyvoice/` as its code: the root's name says so; so does
    a folder above the copy (`FunAudioLLM+CosyVoice/cosyvoice/`)."""
    for root in (tmp_path / "CosyVoice", tmp_path / "corpus" / "FunAudioLLM+CosyVoice"):
        shutil.copytree(PROJECTS / "roles" / "cosyvoice", root / "cosyvoice")
    proc = run_cli("roles", "cosyvoice/cli/model.py", "--format", "json", cwd=tmp_path / "CosyVoice")
    assert [e["role"] for e in json.loads(proc.stdout)] == ["library"]
    proc = run_cli("roles", "FunAudioLLM+CosyVoice/cosyvoice/cli/model.py", "--format", "json",
                   cwd=tmp_path / "corpus")
    assert [e["role"] for e in json.loads(proc.stdout)] == ["library"]


def test_a_versioned_library_package_is_a_copy_unless_the_root_declares_it(tmp_path):
    """`trl/` with a release `__version__` is a copy inside LLaVA-NeXT; in a checkout of TRL
    itself in a folder named otherwise (`/app`), the root's pyproject names it: its own code."""
    for folder in ("LLaVA-NeXT", "app"):
        shutil.copytree(PROJECTS / "nested_copy" / "trl", tmp_path / folder / "trl")
    (tmp_path / "app" / "pyproject.toml").write_text('[project]\nname = "trl"\nversion = "0.7.11"\n')
    roles = {}
    for folder in ("LLaVA-NeXT", "app"):
        proc = run_cli("roles", "trl/modeling_base.py", "--format", "json", cwd=tmp_path / folder)
        roles[folder] = [e["role"] for e in json.loads(proc.stdout)]
    assert roles == {"LLaVA-NeXT": ["vendored"], "app": ["library"]}


def test_a_copy_named_as_one_is_vendored_even_in_a_checkout_named_after_the_library(tmp_path):
    """`rwkv_pip/` says it is a copy of the pip package, in RWKV-Runner too; a bare `rwkv/` there
    is the project's own package."""
    root = tmp_path / "RWKV-Runner"
    for folder in ("backend/rwkv_pip", "rwkv"):
        (root / folder).mkdir(parents=True)
        (root / folder / "__init__.py").write_text("")
        (root / folder / "utils.py").write_text("import torch\n")
    proc = run_cli("roles", "backend/rwkv_pip/utils.py", "rwkv/utils.py", "--format", "json", cwd=root)
    assert {e["path"]: e["role"] for e in json.loads(proc.stdout)} == {
        "backend/rwkv_pip/utils.py": "vendored", "rwkv/utils.py": "library"}


def test_the_folders_a_checkout_sits_in_do_not_decide_roles(tmp_path):
    """A clone under ~/benchmarks/ or /tmp/eval/ is not a benchmark or an eval harness: path
    words count from the project's root (or, outside it, below the folder shared with it)."""
    outer = tmp_path / "cuda" / "benchmarks" / "eval_runs"
    shutil.copytree(PROJECTS / "roles", outer / "roles")
    root = outer / "roles"
    proc = run_cli("roles", "serve/app.py", "train.py", "--format", "json", cwd=root)
    assert {e["path"]: e["role"] for e in json.loads(proc.stdout)} == {
        "serve/app.py": "serving", "train.py": "training"}
    # nor is a checkout under a folder named `cuda/` CUDA-only code (TL101)
    proc = run_cli("check", "--no-cache", "--format", "json", "--select", "TL101", str(root / "train.py"), cwd=root)
    assert [(f["line"], f["rule"]) for f in json.loads(proc.stdout)] == [(9, "TL101")]
    elsewhere = tmp_path / "work"
    elsewhere.mkdir()
    proc = run_cli("roles", str(root / "serve" / "app.py"), "--format", "json", cwd=elsewhere)
    assert [e["role"] for e in json.loads(proc.stdout)] == ["serving"]


def test_function_roles_inside_a_file():
    """A library module's `__main__` self-test, a training function beside inference code."""
    from torchlint.analysis.project import FileFacts

    source = (
        "import torch\n\n"
        "class Net(torch.nn.Module):\n    def forward(self, x):\n        return x\n\n"
        "def fit(model, opt, x):\n    model(x).sum().backward()\n    opt.step()\n\n"
        "def predict(model, x):\n    return model(x)\n\n"
        "if __name__ == '__main__':\n    Net().cuda()\n"
    )
    facts = FileFacts.standalone("pkg/net.py", summarise(ast.parse(source)), load_vocabulary())
    assert facts.role.role == "library"
    assert facts.role_at_line(8).role == "training" and facts.role_at_line(12).role == "library"
    assert facts.role_at_line(15).role == "selftest"


def test_an_optional_ddp_branch_does_not_make_a_function_distributed():
    from torchlint.analysis.project import FileFacts

    source = (
        "import torch.distributed as dist\n\n"
        "def init(ddp):\n    if ddp:\n        dist.init_process_group(backend='nccl')\n"
        "        dist.barrier()\n    return ddp\n\n"
        "def sync():\n    dist.barrier()\n"
    )
    facts = FileFacts.standalone("pkg/common.py", summarise(ast.parse(source)), load_vocabulary())
    assert facts.role_at_line(4).role == "library" and facts.role_at_line(10).role == "distributed"


def test_a_file_whose_roles_no_admitted_rule_covers_is_not_parsed(catalog):
    """Rules are pruned by the roles present before libcst runs: a training script that matches
    only the prefilters of rules it is exempt from costs no parse (shown with text CPython was
    said to accept but libcst refuses: parsed, it would be a TL000)."""
    from torchlint.analysis.project import FileFacts

    vocab = load_vocabulary()
    linter = Linter(catalog, list(catalog), Config())
    source = "import torch\n\ndef step(model, x):\n    return model(x.float())\n"
    facts = FileFacts.standalone("train.py", summarise(ast.parse(source)), vocab)
    assert facts.roles_present() == {"training"}
    broken = (source + "x = = 1\n").encode()
    assert linter.lint_source("train.py", broken, facts=facts, tables=[]).findings == []
    facts = FileFacts.standalone("model.py", summarise(ast.parse(source)), vocab)
    assert facts.roles_present() == {"library"}
    found = linter.lint_source("model.py", broken, facts=facts, tables=[]).findings
    assert [f.rule for f in found] == ["TL000"]


def test_explain_and_rules_show_the_roles():
    page = run_cli("explain", "TL301", "--format", "markdown").stdout
    assert "*Applies to:* serving, inference, library code (not training" in page
    rules = {r["id"]: r["roles"] for r in json.loads(run_cli("rules", "--format", "json").stdout)}
    assert rules["TL701"] == ["tests"] and rules["TL002"] == []


def test_a_config_glob_overrides_the_evidence(tmp_path):
    shutil.copytree(PROJECTS / "roles", tmp_path / "roles")
    root = tmp_path / "roles"
    (root / "pyproject.toml").write_text('[tool.torchlint.roles]\n"serve/*" = "benchmark"\n')
    proc = run_cli("check", "--no-cache", "--format", "json", "serve", cwd=root)
    assert json.loads(proc.stdout) == [] and proc.returncode == 0
    (root / "pyproject.toml").write_text('[tool.torchlint.roles]\n"serve/*" = "servng"\n')
    proc = run_cli("check", "--no-cache", "serve", cwd=root)
    assert proc.returncode == 2 and "servng" in proc.stderr and "serving" in proc.stderr


def test_every_real_summary_is_well_formed_after_a_json_round_trip():
    """The cache's shape check must accept what `summarise` writes, or every warm run would
    summarise every file again (it did: warm runs went from 1.2 s to 5.9 s)."""
    from torchlint.analysis.summary_shape import well_formed

    root = Path(__file__).resolve().parents[1]
    files = [*root.glob("torchlint/**/*.py"), *root.glob("reference_engine/**/*.py"), *FIXTURES.rglob("*.py")]
    refused = []
    for path in files:
        try:
            tree = ast.parse(path.read_bytes())
        except SyntaxError:
            continue
        if not well_formed(json.loads(json.dumps(summarise(tree)))):
            refused.append(str(path))
    assert len(files) > 200 and not refused, refused[:5]


def test_a_module_imported_both_guarded_and_not_by_one_file_has_a_digest(tmp_path, catalog, monkeypatch):
    """`import kernels` in try/except and again plainly in one file: the importers fact holds a
    guard and None for the same path, and its digest must still be computed (it once raised
    TypeError comparing them, which became TL001 for the importer)."""
    (tmp_path / "kernels.py").write_text("import torch\n\nx = torch.device('cuda')\n")
    (tmp_path / "app.py").write_text("try:\n    import kernels\nexcept ImportError:\n    kernels = None\n"
                                     "import kernels\n")
    monkeypatch.chdir(tmp_path)
    linter = Linter(catalog, list(catalog), Config(root=tmp_path))
    result = _run(linter, Path("."))
    assert not [f for f in result.findings if f.rule == "TL001"]


def test_declared_packages_come_from_requirements_pyproject_and_dockerfiles(tmp_path):
    from torchlint.session.requirements import declared_in

    (tmp_path / "requirements-gpu.txt").write_text("xformers==0.0.30  # attention\n-r base.txt\n"
                                                   "git+https://x/y.git\nFlash-Attn>=2\n")
    (tmp_path / "pyproject.toml").write_text('[project]\ndependencies = ["accelerate>=0.17"]\n'
                                             '[project.optional-dependencies]\nextra = ["bitsandbytes"]\n'
                                             '[tool.poetry.dependencies]\nDiffusers = "^0.30"\n')
    (tmp_path / "Dockerfile").write_text("FROM nvidia/cuda:12.1.1-runtime\n"
                                         "RUN pip install --no-cache-dir triton==3.0 \"einops>=0.8\" && echo done\n")
    (tmp_path / "notes.txt").write_text("torch\n")
    (tmp_path / "cog.yaml").write_text("build:\n  gpu: true\n  python_packages:\n    - imageio>=2.35\n")
    names = {p.name for p in tmp_path.iterdir()}
    assert declared_in(str(tmp_path), names) == {
        "xformers": "0.0.30", "flash_attn": "2", "accelerate": "0.17", "diffusers": "0.30",
        "triton": "3.0", "einops": "0.8", "imageio": "2.35"}  # not the extra's bitsandbytes: nothing installs it by default
