"""How every benchmark block of docs/BENCHMARKS.md states a verdict and the machine it ran on."""

from __future__ import annotations

from typing import Any


def yes(flag: bool) -> str:
    return "**met**" if flag else "**not met**"


def machine_line(m: dict[str, Any], seconds: float | None = None) -> str:
    took = f"; the run took {seconds / 60:.1f} min" if seconds else ""
    return (
        f"Measured {m['date']} on {m['nproc']} cores ({m['cpu']}), {m['memory_gib']} GiB,"
        f" Python {m['python']}"
        f" ({m['platform']}); 1-minute load average at the end {m.get('load_average_1m', '?')};"
        f" code at {m['git']}{took}."
    )
