"""The machine an output was made on: what a synthetic corpus records of each batch.

    machine_record(torch.device("cpu"), torch.float64, "lean")
    # {"device": "cpu", "capability": "AVX512", "cpu": "AMD EPYC 9B14", "torch": "2.13.0+cpu",
    #  "dtype": "float64", "engine": "lean"}

Floats are summed in another order on other vector units (AVX2, AVX-512, a GPU), so a token
sampled near a boundary of the inverse CDF can differ between machines (docs/method.md says
where, as measured). The record says where each batch was made; it is never part of an
output's identity (identity.py): finishing a corpus on another machine discards nothing.
"""

from __future__ import annotations

import platform
from functools import cache
from pathlib import Path

import torch


@cache
def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo "model name"; elsewhere platform.processor())."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    names = [x.split(":", 1)[1].strip() for x in lines if x.startswith("model name")]
    return names[0] if names else platform.processor() or platform.machine() or "unknown"


def machine_record(device: torch.device, dtype: torch.dtype, engine: str) -> dict[str, str]:
    """What made a batch: the device type, its capability (torch's CPU capability: DEFAULT,
    AVX2, AVX512, ...; on CUDA the GPU's name), the CPU model, torch's version, the dtype
    and the engine (lean or generic)."""
    device = torch.device(device)
    if device.type == "cuda":
        capability = torch.cuda.get_device_name(device)
    else:
        capability = torch.backends.cpu.get_cpu_capability()
    return {
        "device": device.type,
        "capability": capability,
        "cpu": cpu_model(),
        "torch": torch.__version__,
        "dtype": str(dtype).removeprefix("torch."),
        "engine": engine,
    }


def describe(record: dict) -> str:
    """One machine record in a few words: `AVX512 cpu (AMD EPYC 9B14), torch 2.13.0+cpu,
    float64, lean engine`."""
    return (
        f"{record['capability']} {record['device']} ({record['cpu']}), torch {record['torch']}, "
        f"{record['dtype']}, {record['engine']} engine"
    )
