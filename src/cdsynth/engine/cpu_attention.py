"""Our one-query attention kernel for the decode step on a CPU (csrc/decode_attention.cpp).

    out = cached_attention(q, k, v, k_cache, v_cache, key_valid, use_kernel(q.device))

writes the new token's k, v (M, B, KV, D) into slot key_valid.shape[1] - 1 of the cache
(M, B, KV, Lmax, D) and attends q (M, B, H, D) over the valid slots: (M, B, H, D). The reference is
`reference_attention`: the same write, then `llama_math.attend` (torch ops; tests compare
the two). On a CPU the compiled graph of that reference reads the cache at ~10 GB/s, a
quarter of the measured bandwidth (it makes several passes and a horizontal sum per key);
the kernel makes one pass over K and one over V per (model, row, head), in float32 (float64
for float64), near the bandwidth (BENCHMARKS.md).

The same library holds the decode step's sampling op, `cdsynth_cpu::inverse_cdf`
(csrc/inverse_cdf.cpp; `decoding.sample` says what it computes; its reference is that
function's torch ops), `cdsynth_cpu::choose` (csrc/choose.cpp): a plain rule's whole step,
log-softmax, V_head, scores, the sample and the statistics, row by row (`decoding.choose`;
its reference, the same function's torch ops), and `cdsynth_cpu::decode_models`
(csrc/decode_models.cpp): the float32 step's model part, every model's one-token forward,
the models side by side on their own threads (`decode_step.decode_logits`, eagerly, is its
reference). On x86 they call torch's own vector exp
(SLEEF's `Sleef_expf8_u10avx2` and kin, which libtorch_cpu exports and its softmax uses): a
torch build without them fails to load the library, which then reads as "cannot be built"
below. The library is built with -ffp-contract=off: a * b + c rounds twice, as torch's
separate ops round it.

The library is C++ built once per machine with the system's g++ (the compiler torch.compile
already needs on a CPU), cached under ~/.cache/cdsynth (or $CDSYNTH_KERNEL_CACHE) by a hash of
its sources, the compiler flags, the torch version and the CPU's feature flags, and loaded
with `torch.ops.load_library`; its ops are custom ops with fake implementations, so compiled
graphs call them. If it cannot be built, a warning says why and the references run (same
numbers up to rounding, slower).
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import subprocess
import sys
import sysconfig
import warnings
from pathlib import Path

import torch

from .llama_math import attend

CSRC = Path(__file__).parent / "csrc"
SOURCE = CSRC / "decode_attention.cpp"
# the library's other ops: decoding.sample's softmax, cumulative sum and search in one pass,
# decoding.choose's whole step for the plain rules (the two share inverse_cdf.h), and the
# float32 step's models side by side (decode_step.models_logits)
SOURCES = [SOURCE, *(CSRC / f for f in ("inverse_cdf.cpp", "choose.cpp", "decode_models.cpp"))]
HEADERS = [CSRC / "inverse_cdf.h"]
FLAGS = [
    "-O3",
    "-march=native",
    "-fopenmp",
    "-fno-math-errno",
    "-ffp-contract=off",  # a * b + c rounds twice, as torch's separate ops round it
    "-shared",
    "-fPIC",
    "-std=c++17",
]
# torch held below the CPU's own vector units (ATEN_CPU_CAPABILITY=avx2 on an AVX-512 CPU,
# as .ci/run does) holds the kernel there too: the same code paths as on such a CPU
CAPABILITY_FLAGS = {"AVX2": ["-mno-avx512f"], "DEFAULT": ["-mno-avx"]}


def compiler_flags() -> list[str]:
    """FLAGS, less the vector units above torch's CPU capability (x86-64)."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return FLAGS
    return FLAGS + CAPABILITY_FLAGS.get(torch.backends.cpu.get_cpu_capability(), [])


def reference_attention(q, k, v, k_cache, v_cache, key_valid):
    """The kernel's reference: torch ops (what runs off the CPU, and in tests)."""
    end = key_valid.shape[1]
    # narrow + copy_, not an index: a compiled graph keeps the slot symbolic
    k_cache.narrow(3, end - 1, 1).copy_(k[:, :, :, None])
    v_cache.narrow(3, end - 1, 1).copy_(v[:, :, :, None])
    k_all, v_all = k_cache.narrow(3, 0, end), v_cache.narrow(3, 0, end)
    mask = key_valid[:, None, None, :]  # (B, 1, T=1, end)
    return attend(q[:, :, :, None], k_all, v_all, mask, fused=True)[:, :, :, 0]


def cached_attention(q, k, v, k_cache, v_cache, key_valid, kernel: bool):
    """The kernel if `kernel` (from `use_kernel`, decided before any graph is traced), the
    reference otherwise."""
    if kernel:
        return torch.ops.cdsynth_cpu.decode_attention_(q, k, v, k_cache, v_cache, key_valid)
    return reference_attention(q, k, v, k_cache, v_cache, key_valid)


def use_kernel(device: torch.device) -> bool:
    """Whether decoding on `device` runs the kernel (a CPU, once it is built and loaded)."""
    return torch.device(device).type == "cpu" and kernel_available()


def _cache_dir() -> Path:
    root = os.environ.get("CDSYNTH_KERNEL_CACHE") or Path.home() / ".cache" / "cdsynth"
    return Path(root) / "kernels"


def _cpu_flags() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor()
    return next((x for x in text.splitlines() if x.startswith(("flags", "Features"))), "")


def header_flags() -> list[str]:
    """The flags that compile the source against this torch and Python (ABI, include paths);
    the same for a cross-compile (tests: the aarch64 build check)."""
    from torch.utils import cpp_extension

    includes = [*cpp_extension.include_paths(), sysconfig.get_paths()["include"]]
    abi = "-D_GLIBCXX_USE_CXX11_ABI=" + str(int(torch._C._GLIBCXX_USE_CXX11_ABI))
    return [abi, *(f"-I{p}" for p in includes)]


def _build() -> Path:
    """Compile the kernel (once: the shared library is cached by what it depends on)."""
    from torch.utils import cpp_extension

    libs = cpp_extension.library_paths()
    key = hashlib.sha256(
        "\n".join(
            [
                *(src.read_text() for src in (*SOURCES, *HEADERS)),
                " ".join(compiler_flags()),
                torch.__version__,
                torch.backends.cpu.get_cpu_capability(),
                _cpu_flags(),  # -march=native: a build is only for CPUs with these flags
                sys.version,
            ]
        ).encode()
    ).hexdigest()[:16]
    so = _cache_dir() / key / "decode_attention.so"
    if so.is_file():
        return so
    so.parent.mkdir(parents=True, exist_ok=True)
    tmp = so.with_name(f".{so.name}.{os.getpid()}.tmp")
    cmd = [
        os.environ.get("CXX", "g++"),
        *compiler_flags(),
        *header_flags(),
        *(str(src) for src in SOURCES),
        "-o",
        str(tmp),
        *(f"-L{p}" for p in libs),
        *(f"-Wl,-rpath,{p}" for p in libs),
        "-lc10",
        "-ltorch_cpu",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        tmp.unlink(missing_ok=True)
        lines = done.stderr.strip().splitlines() or ["no output"]
        first = next((x for x in lines if "error" in x), lines[-1])
        raise RuntimeError(f"{cmd[0]} failed: {first.strip()}")
    os.replace(tmp, so)  # atomic: a concurrent build never loads a half-written file
    return so


@functools.cache
def kernel_available() -> bool:
    """Build and load the library (attention, sampling, the plain rules' step) once per
    process; False (with a warning) if it cannot be."""
    try:
        torch.ops.load_library(str(_build()))
    except (OSError, RuntimeError, subprocess.SubprocessError) as e:
        warnings.warn(
            "cdsynth: the CPU decode kernels (attention, sampling, the rule's step, the "
            f"models' step) could not be built ({e}); decoding uses the slower torch "
            "formulations",
            stacklevel=2,
        )
        return False

    @torch.library.register_fake("cdsynth_cpu::decode_attention_")
    def _(q, k, v, k_cache, v_cache, key_valid):
        return torch.empty_like(q, memory_format=torch.contiguous_format)

    @torch.library.register_fake("cdsynth_cpu::inverse_cdf")
    def _(scores, row_max, uniforms):
        return scores.new_empty(scores.shape[:1], dtype=torch.int64)

    @torch.library.register_fake("cdsynth_cpu::choose")
    def _(good, bad, uniforms, strategy, alpha, lam):
        rows = good.shape[:1]
        return (
            good.new_empty(rows, dtype=torch.int64),
            good.new_empty(rows),
            good.new_empty(rows, dtype=torch.bool),
            good.new_empty(rows, dtype=torch.int64),
            good.new_empty(2, dtype=torch.bool),
            torch.empty_like(good, memory_format=torch.contiguous_format),
        )

    return True
