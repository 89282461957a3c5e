"""Which framework a process runs: from its command line, its ancestors' command
lines and the libraries in its memory maps.

Inference servers win over the library they are built on (a vLLM server has
libtorch loaded and is still "vllm"). A launcher (torchrun, accelerate,
deepspeed, `vllm serve`, ...) is reported separately. Everything here is
pure: the callers read /proc.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

# Framework names as they appear in ProcessInfo.framework.
VLLM = "vllm"
SGLANG = "sglang"
OLLAMA = "ollama"
TGI = "tgi"
LLAMACPP = "llama.cpp"
PYTORCH = "pytorch"
JAX = "jax"
TENSORFLOW = "tensorflow"
ONNXRUNTIME = "onnxruntime"
TENSORRT = "tensorrt"
GGML = "ggml"
CUDA_MPS = "cuda-mps"

#: Inference servers: their name wins over any library they load.
SERVERS = frozenset({VLLM, SGLANG, OLLAMA, TGI, LLAMACPP})

_PYTHON_RE = re.compile(r"^(?:python(?:\d+(?:\.\d+)?)?[dmu]?|pypy3?)$")
# Python options that take a separate argument (besides -c and -m).
_PY_ARG_OPTS = frozenset({"-W", "-X", "-Q"})
_MAX_LAUNCHER_LEN = 80
_RUNNERS = frozenset({"uv", "poetry", "pipenv", "pdm", "hatch"})


@dataclass(frozen=True, slots=True)
class CommandGuess:
    """What one command line says about a process."""

    framework: str | None = None
    launcher: str | None = None

    @property
    def server(self) -> bool:
        return self.framework in SERVERS


NOTHING = CommandGuess()


@dataclass(frozen=True, slots=True)
class _Target:
    """The program a command line runs: an executable/script name or a module."""

    name: str  # basename of the executable or script ("" for -m/-c)
    module: str | None
    rest: tuple[str, ...]


def _strip_wrappers(argv: Sequence[str]) -> tuple[str, ...]:
    """Drop `env A=B`, `nohup`, `uv run`, `conda run -n X` and similar prefixes."""
    args = tuple(argv)
    for _ in range(4):
        if not args:
            return args
        head = os.path.basename(args[0])
        if head == "env":
            i = 1
            while i < len(args) and ("=" in args[i] or args[i].startswith("-")):
                i += 1
            args = args[i:]
        elif head in ("nohup", "exec", "stdbuf", "nice", "ionice", "time"):
            i = 1
            while i < len(args) and args[i].startswith("-"):
                i += 1
            args = args[i:]
        elif head in _RUNNERS and len(args) > 1 and args[1] == "run":
            i = 2
            while i < len(args) and args[i].startswith("-"):
                i += 1
            args = args[i:]
        elif head in ("conda", "mamba", "micromamba") and len(args) > 1 and args[1] == "run":
            i = 2
            while i < len(args) and args[i].startswith("-"):
                if args[i] in ("-n", "--name", "-p", "--prefix") and i + 1 < len(args):
                    i += 2
                else:
                    i += 1
            args = args[i:]
        else:
            return args
    return args


def _target(argv: Sequence[str]) -> _Target | None:
    args = _strip_wrappers(argv)
    if not args:
        return None
    exe = os.path.basename(args[0])
    if not _PYTHON_RE.match(exe):
        return _Target(exe, None, tuple(args[1:]))
    i = 1
    while i < len(args):
        a = args[i]
        if a == "-m" and i + 1 < len(args):
            return _Target("", args[i + 1], tuple(args[i + 2 :]))
        if a.startswith("-m") and len(a) > 2:
            return _Target("", a[2:], tuple(args[i + 1 :]))
        if a == "-c" or a.startswith("-c"):
            return _Target("", None, ())
        if a in _PY_ARG_OPTS:
            i += 2
            continue
        if a.startswith("-"):
            i += 1
            continue
        return _Target(os.path.basename(a), None, tuple(args[i + 1 :]))
    return None


def _launched_target(rest: Sequence[str]) -> _Target | None:
    """The program a launcher starts: `-m MODULE`, else the first script-like word."""
    for i, a in enumerate(rest):
        if a in ("-m", "--module") and i + 1 < len(rest):
            return _Target("", rest[i + 1], tuple(rest[i + 2 :]))
        if a == "--":
            continue
        if a.startswith("-") or "=" in a or a.isdigit():
            continue
        if a.endswith(".py") or "/" in a:
            return _target(rest[i:])
    return None


def _server_from(t: _Target) -> CommandGuess:
    """Inference servers (and the MPS server) from a program name or module."""
    name, module, rest = t.name, t.module, t.rest
    sub = rest[0] if rest else ""
    if module:
        top = module.split(".", 1)[0]
        launcher = f"python -m {module}"[:_MAX_LAUNCHER_LEN]
        if top == "vllm":
            return CommandGuess(VLLM, launcher)
        if top == "sglang":
            return CommandGuess(SGLANG, launcher)
        if top == "llama_cpp":
            return CommandGuess(LLAMACPP, launcher)
        if top == "text_generation_server":
            return CommandGuess(TGI, launcher)
        return NOTHING
    if name.startswith("VLLM::") or name.lower().startswith("vllm::"):
        return CommandGuess(VLLM)
    if name.lower().startswith("sglang::"):
        return CommandGuess(SGLANG)
    if name == "vllm":
        return CommandGuess(VLLM, "vllm serve" if sub == "serve" else None)
    if name == "sglang":
        return CommandGuess(SGLANG, "sglang serve" if sub == "serve" else None)
    if name == "ollama":
        return CommandGuess(OLLAMA, f"ollama {sub}" if sub in ("serve", "runner") else None)
    if name == "ollama_llama_server":
        return CommandGuess(OLLAMA)
    if name == "text-generation-launcher":
        return CommandGuess(TGI, "text-generation-launcher")
    if name in ("text-generation-server", "text-generation-router"):
        return CommandGuess(TGI)
    if name in ("llama-server", "llama-cli", "llama-cpp-server"):
        return CommandGuess(LLAMACPP)
    if name in ("nvidia-cuda-mps-server", "nvidia-cuda-mps-control"):
        return CommandGuess(CUDA_MPS)
    return NOTHING


def _launcher_from(t: _Target) -> tuple[CommandGuess, _Target | None]:
    """Training launchers; returns the guess and the program it launches."""
    name, module, rest = t.name, t.module, t.rest
    if name == "torchrun" or module == "torch.distributed.run":
        return CommandGuess(PYTORCH, "torchrun"), _launched_target(rest)
    if module == "torch.distributed.launch":
        return CommandGuess(PYTORCH, "torch.distributed.launch"), _launched_target(rest)
    if (name == "accelerate" and rest[:1] == ("launch",)) or module == "accelerate.commands.launch":
        launched = _launched_target(rest[1:] if name else rest)
        return CommandGuess(None, "accelerate launch"), launched
    if name == "deepspeed" or module in ("deepspeed.launcher.runner", "deepspeed.launcher.launch"):
        return CommandGuess(None, "deepspeed"), _launched_target(rest)
    if name in ("mpirun", "mpiexec", "srun"):
        return CommandGuess(None, name), _launched_target(rest)
    return NOTHING, None


def from_cmdline(argv: Sequence[str]) -> CommandGuess:
    """Framework and launcher from one command line (argv as in /proc/<pid>/cmdline).

    A process title set with setproctitle (vLLM's `VLLM::EngineCore`, SGLang's
    `sglang::scheduler`) arrives as a single argument holding spaces.
    """
    if not argv:
        return NOTHING
    first = argv[0]
    if " " in first and len(argv) == 1:
        argv = first.split()
    t = _target(argv)
    if t is None:
        return NOTHING
    server = _server_from(t)
    if server.framework is not None:
        return server
    launcher, launched = _launcher_from(t)
    if launcher.launcher is None:
        return NOTHING
    if launched is not None:
        inner = _server_from(launched)
        if inner.framework is not None:
            return CommandGuess(inner.framework, inner.launcher or launcher.launcher)
    return launcher


# Libraries in /proc/<pid>/maps, in priority order (a process with both
# libtorch and libtensorflow loaded is called pytorch). The words are a cheap
# substring gate before the exact pattern (maps of a PyTorch process: ~55 KB).
_LIBRARY_PATTERNS: tuple[tuple[str, tuple[str, ...], re.Pattern[str]], ...] = (
    (PYTORCH, ("libtorch", "libc10"), re.compile(r"/lib(?:torch|c10)(?:_[\w]+)?\.so")),
    (
        JAX,
        ("xla_extension", "libjax", "jaxlib/", "jax_plugins/"),
        re.compile(r"xla_extension|/libjax\w*\.so|/jaxlib/|/jax_plugins/"),
    ),
    (
        TENSORFLOW,
        ("libtensorflow", "_pywrap_tensorflow"),
        re.compile(r"/libtensorflow\w*\.so|_pywrap_tensorflow"),
    ),
    (LLAMACPP, ("libllama",), re.compile(r"/libllama\.so")),
    (GGML, ("libggml",), re.compile(r"/libggml\w*\.so")),
    (
        ONNXRUNTIME,
        ("onnxruntime",),
        re.compile(r"/libonnxruntime\w*\.so|onnxruntime_pybind11_state"),
    ),
    (TENSORRT, ("libnvinfer",), re.compile(r"/libnvinfer\.so")),
)


def from_maps(maps_text: str) -> str | None:
    """The framework library loaded in a process, from its /proc/<pid>/maps."""
    for framework, words, pattern in _LIBRARY_PATTERNS:
        if any(w in maps_text for w in words) and pattern.search(maps_text):
            return framework
    return None


def combine(
    own: CommandGuess, ancestors: Sequence[CommandGuess], library: str | None
) -> tuple[str | None, str | None]:
    """(framework, launcher): servers first (own, then the nearest ancestor's),
    then the loaded library, then what the command lines say."""
    framework: str | None
    if own.server:
        framework = own.framework
    else:
        ancestor_server = next((a.framework for a in ancestors if a.server), None)
        framework = (
            ancestor_server
            or library
            or own.framework
            or next((a.framework for a in ancestors if a.framework), None)
        )
    launcher = own.launcher or next((a.launcher for a in ancestors if a.launcher), None)
    return framework, launcher
