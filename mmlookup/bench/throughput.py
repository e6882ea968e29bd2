"""Forward throughput (clips/s) and peak memory of a model on one input shape.

Timings take a warm-up, then the median of repeats; ``interleaved_throughput`` times several models in turns
so slow drifts of a shared machine hit them all alike (ratios are what we report). Peak memory: on CUDA the
allocator's peak; on CPU the rise of the process's peak resident set during one forward (after returning
freed heap to the OS and resetting the high-water mark), an estimate of activation memory.
"""
from __future__ import annotations

import ctypes
import statistics
import time
from dataclasses import dataclass
from typing import Callable

import torch


@dataclass
class Timing:
    clips_per_s: float
    ms_per_clip: float
    peak_mem_mb: float | None


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _read_status_kb(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_cpu_peak() -> bool:
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_memory_mb(run: Callable[[], object], device: torch.device) -> float | None:
    """Extra memory one call of ``run`` needs at its peak, in MiB."""
    if device.type == "cuda":
        _sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        run()
        _sync(device)
        return (torch.cuda.max_memory_allocated(device) - base) / 2**20
    if not _reset_cpu_peak():
        return None
    base = _read_status_kb("VmRSS")
    run()
    peak = _read_status_kb("VmHWM")
    if base is None or peak is None:
        return None
    return max(peak - base, 0) / 1024


def interleaved_throughput(
    runs: dict[str, Callable[[], object]],
    batch_size: int,
    device: torch.device,
    warmup: int = 1,
    repeats: int = 5,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Timing]:
    """Time each ``run`` (one forward of ``batch_size`` clips) ``repeats`` times, round-robin; median per run."""
    times: dict[str, list[float]] = {k: [] for k in runs}
    mem: dict[str, float | None] = {}
    for name, run in runs.items():
        for _ in range(warmup):
            run()
        mem[name] = peak_memory_mb(run, device)
    for r in range(repeats):
        for name, run in runs.items():
            if progress:
                progress(f"round {r + 1}/{repeats}: {name}")
            _sync(device)
            t0 = time.perf_counter()
            run()
            _sync(device)
            times[name].append(time.perf_counter() - t0)
    out = {}
    for name, ts in times.items():
        med = statistics.median(ts)
        out[name] = Timing(clips_per_s=batch_size / med, ms_per_clip=1000 * med / batch_size, peak_mem_mb=mem[name])
    return out


# Dense (no sparsity) bf16 tensor-core peaks in TFLOP/s, from the vendors' data sheets; matched by substring of
# ``torch.cuda.get_device_name`` (first match wins, so the more specific names come first).
BF16_PEAK_TFLOPS: tuple[tuple[str, float], ...] = (
    ("H200", 989.0),
    ("H100 PCIe", 756.0),
    ("H100", 989.0),  # SXM
    ("H800", 989.0),
    ("GH200", 989.0),
    ("B200", 2250.0),
    ("A100", 312.0),
    ("A800", 312.0),
    ("L40S", 362.0),
    ("L4", 121.0),
    ("A10G", 70.0),
    ("RTX 4090", 165.0),
)


def device_peak_tflops(device: torch.device) -> float | None:
    """The device's dense bf16 peak in TFLOP/s, or None (CPU, or a GPU not in :data:`BF16_PEAK_TFLOPS`)."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in BF16_PEAK_TFLOPS if key in name), None)
