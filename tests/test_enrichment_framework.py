"""Framework and launcher detection from command lines and memory maps (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vramtop.enrichment import framework as fw

PY = "/opt/venv/bin/python3.11"


@pytest.mark.parametrize(
    ("argv", "framework", "launcher"),
    [
        # vLLM
        (["/opt/venv/bin/vllm", "serve", "meta-llama/Llama-3-8B"], fw.VLLM, "vllm serve"),
        ([PY, "/opt/venv/bin/vllm", "serve", "m"], fw.VLLM, "vllm serve"),
        (
            [PY, "-m", "vllm.entrypoints.openai.api_server", "--model", "m"],
            fw.VLLM,
            "python -m vllm.entrypoints.openai.api_server",
        ),
        (
            ["python", "-u", "-X", "faulthandler", "-m", "vllm.entrypoints.api_server"],
            fw.VLLM,
            "python -m vllm.entrypoints.api_server",
        ),
        (["VLLM::EngineCore"], fw.VLLM, None),
        (["VLLM::Worker_TP1   "], fw.VLLM, None),
        # SGLang
        (
            [PY, "-m", "sglang.launch_server", "--model-path", "m"],
            fw.SGLANG,
            "python -m sglang.launch_server",
        ),
        (["sglang::scheduler_TP0"], fw.SGLANG, None),
        # Ollama
        (["/usr/local/bin/ollama", "serve"], fw.OLLAMA, "ollama serve"),
        (
            ["/usr/local/bin/ollama", "runner", "--model", "/root/.ollama/models/blobs/sha256-x"],
            fw.OLLAMA,
            "ollama runner",
        ),
        (["/tmp/ollama123/runners/cuda_v12/ollama_llama_server", "--model", "x"], fw.OLLAMA, None),
        # TGI
        (["text-generation-launcher", "--model-id", "m"], fw.TGI, "text-generation-launcher"),
        (
            ["/opt/conda/bin/python", "/opt/conda/bin/text-generation-server", "serve", "m"],
            fw.TGI,
            None,
        ),
        # llama.cpp
        (["./build/bin/llama-server", "-m", "model.gguf", "--port", "8080"], fw.LLAMACPP, None),
        (
            [PY, "-m", "llama_cpp.server", "--model", "x.gguf"],
            fw.LLAMACPP,
            "python -m llama_cpp.server",
        ),
        # launchers
        (["/opt/venv/bin/torchrun", "--nproc_per_node", "8", "train.py"], fw.PYTORCH, "torchrun"),
        (
            [PY, "-m", "torch.distributed.run", "--nproc-per-node=2", "train.py"],
            fw.PYTORCH,
            "torchrun",
        ),
        (
            [PY, "-m", "torch.distributed.launch", "train.py"],
            fw.PYTORCH,
            "torch.distributed.launch",
        ),
        (
            ["accelerate", "launch", "--num_processes", "2", "finetune.py"],
            None,
            "accelerate launch",
        ),
        ([PY, "/opt/venv/bin/accelerate", "launch", "finetune.py"], None, "accelerate launch"),
        (["deepspeed", "--num_gpus", "4", "train.py", "--deepspeed", "ds.json"], None, "deepspeed"),
        ([PY, "-m", "deepspeed.launcher.runner", "train.py"], None, "deepspeed"),
        # a launcher starting a server: the server wins, the launcher stays
        (
            ["torchrun", "--nproc_per_node", "2", "-m", "sglang.launch_server"],
            fw.SGLANG,
            "python -m sglang.launch_server",
        ),
        (["accelerate", "launch", "/opt/venv/bin/vllm", "serve", "m"], fw.VLLM, "vllm serve"),
        # wrappers in front
        (["env", "CUDA_VISIBLE_DEVICES=0", "vllm", "serve", "m"], fw.VLLM, "vllm serve"),
        (["nohup", "ollama", "serve"], fw.OLLAMA, "ollama serve"),
        (["uv", "run", "--frozen", "vllm", "serve", "m"], fw.VLLM, "vllm serve"),
        (
            [
                "conda",
                "run",
                "-n",
                "llm",
                "--no-capture-output",
                "python",
                "-m",
                "sglang.launch_server",
            ],
            fw.SGLANG,
            "python -m sglang.launch_server",
        ),
        # MPS
        (["nvidia-cuda-mps-server"], fw.CUDA_MPS, None),
        # nothing to say
        ([PY, "train.py", "--lr", "3e-4"], None, None),
        ([PY, "-c", "from multiprocessing.spawn import spawn_main; spawn_main(7)"], None, None),
        (["/usr/bin/bash"], None, None),
        ([], None, None),
        ([""], None, None),
        (["python"], None, None),
        (["python", "-m"], None, None),
    ],
)
def test_from_cmdline(argv: list[str], framework: str | None, launcher: str | None) -> None:
    guess = fw.from_cmdline(argv)
    assert (guess.framework, guess.launcher) == (framework, launcher)


def test_servers_are_flagged() -> None:
    assert fw.from_cmdline(["vllm", "serve"]).server
    assert not fw.from_cmdline(["torchrun", "x.py"]).server


MAPS_LINE = "7f1a30000000-7f1a30200000 r-xp 00000000 fd:01 4211 {}\n"


@pytest.mark.parametrize(
    ("path", "framework"),
    [
        ("/venv/lib/python3.11/site-packages/torch/lib/libtorch_cuda.so", fw.PYTORCH),
        ("/venv/lib/python3.11/site-packages/torch/lib/libc10.so", fw.PYTORCH),
        ("/venv/lib/python3.11/site-packages/torch/lib/libtorch_cpu.so", fw.PYTORCH),
        ("/venv/lib/python3.11/site-packages/jaxlib/xla_extension.so", fw.JAX),
        ("/venv/lib/python3.11/site-packages/jaxlib/libjax_common.so", fw.JAX),
        (
            "/venv/lib/python3.11/site-packages/tensorflow/libtensorflow_framework.so.2",
            fw.TENSORFLOW,
        ),
        (
            "/venv/lib/python3.11/site-packages/tensorflow/python/_pywrap_tensorflow_internal.so",
            fw.TENSORFLOW,
        ),
        ("/venv/lib/python3.11/site-packages/llama_cpp/lib/libllama.so", fw.LLAMACPP),
        (
            "/venv/lib/python3.11/site-packages/onnxruntime/capi/libonnxruntime_providers_cuda.so",
            fw.ONNXRUNTIME,
        ),
        ("/usr/lib/x86_64-linux-gnu/libc.so.6", None),
        ("/home/me/notlibtorch/readme.txt", None),
    ],
)
def test_from_maps(path: str, framework: str | None) -> None:
    assert fw.from_maps(MAPS_LINE.format(path)) == framework


def test_from_maps_priority_pytorch_first() -> None:
    text = MAPS_LINE.format("/x/libtensorflow_framework.so.2") + MAPS_LINE.format(
        "/x/torch/lib/libtorch.so"
    )
    assert fw.from_maps(text) == fw.PYTORCH


def test_combine_server_beats_library() -> None:
    own = fw.from_cmdline(["vllm", "serve", "m"])
    assert fw.combine(own, (), fw.PYTORCH) == (fw.VLLM, "vllm serve")


def test_combine_ancestor_server_beats_library() -> None:
    # vLLM's engine core: a multiprocessing child with libtorch loaded.
    own = fw.from_cmdline(["python", "-c", "from multiprocessing.spawn import spawn_main"])
    parent = fw.from_cmdline(["vllm", "serve", "m"])
    assert fw.combine(own, (fw.NOTHING, parent), fw.PYTORCH) == (fw.VLLM, "vllm serve")


def test_combine_worker_of_a_launcher() -> None:
    own = fw.from_cmdline(["python", "-u", "train.py", "--local-rank=0"])
    parent = fw.from_cmdline(["torchrun", "--nproc_per_node=8", "train.py"])
    assert fw.combine(own, (parent,), fw.PYTORCH) == (fw.PYTORCH, "torchrun")
    assert fw.combine(own, (parent,), fw.JAX) == (fw.JAX, "torchrun")
    assert fw.combine(own, (parent,), None) == (fw.PYTORCH, "torchrun")


def test_combine_nothing_known() -> None:
    assert fw.combine(fw.NOTHING, (fw.NOTHING,), None) == (None, None)


@given(st.lists(st.text(max_size=30), max_size=8))
def test_from_cmdline_never_raises(argv: list[str]) -> None:
    guess = fw.from_cmdline(argv)
    assert guess.framework is None or isinstance(guess.framework, str)
    assert guess.launcher is None or len(guess.launcher) <= 80


@given(st.text(max_size=2000))
def test_from_maps_never_raises(text: str) -> None:
    assert fw.from_maps(text) in (None, *(f for f, _, _ in fw._LIBRARY_PATTERNS))
