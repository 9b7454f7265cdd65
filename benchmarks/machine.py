"""The machine a benchmark or experiment ran on, as its printed header begins: results are read beside it."""
from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path


def machine_line() -> str:
    """``DATE · CPU model · N CPUs``."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []
    cpu = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), platform.processor())
    return f"{datetime.date.today()} · {cpu} · {os.cpu_count()} CPUs"
