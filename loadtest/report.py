"""Shared by the benchmarks: the machine's description and writing docs/benchmarks.md."""

from __future__ import annotations

import contextlib
import platform
import re
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (what `lscpu` shows), or the platform's guess."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def replace_section(text: str, heading: str, doc: Path = DOC) -> None:
    """Put `text` (which starts with `heading`) in place of that `## ` section, or append it.

    Other sections are left as they are, so each benchmark owns exactly one.
    """
    assert text.startswith(heading), "the section text starts with its own heading"
    current = doc.read_text() if doc.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    block = text.rstrip("\n") + "\n\n"
    if pattern.search(current):
        current = pattern.sub(lambda _m: block, current)
    else:
        current = current.rstrip("\n") + "\n\n" + block
    doc.write_text(current.rstrip("\n") + "\n")
