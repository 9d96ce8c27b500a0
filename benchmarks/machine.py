"""The machine line every benchmark prints: CPU model, cores, threads, torch version, device."""

from __future__ import annotations

import os
import platform

import torch


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_line() -> str:
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return (f"machine: {cpu_model()} | cores {os.cpu_count()} | torch threads {torch.get_num_threads()} | "
            f"torch {torch.__version__} | python {platform.python_version()} | device {device}")
