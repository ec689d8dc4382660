"""Medians over runs, ratios to restic, the issue's targets, the Markdown file and a chart."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Optional

from .measure import Measure
from .tools import PEERS

MIB = 1 << 20
STEP_TEXT = {
    "first": "first full backup",
    "related": "backup of the related tree (dedup)",
    "nochange": "no-change re-run",
    "change1": "1% of files changed",
    "restore": "full restore",
    "check": "check, reading all data",
    "b3sum": "read + BLAKE3 only (b3sum)",
}


def ok(m: Measure, tool: str) -> bool:
    """Exit 0, or Chancery's 3 (done with warnings), counts as done."""
    return m.code == 0 or (tool.startswith("chancery") and m.code == 3)


class Results:
    """Every measure, by (case, step, tool), and the medians drawn from them."""

    def __init__(self):
        self.runs: dict[tuple[str, str, str], list[Measure]] = {}

    def add(self, case: str, step: str, tool: str, m: Measure) -> None:
        self.runs.setdefault((case, step, tool), []).append(m)

    def median(self, case: str, step: str, tool: str) -> Optional[Measure]:
        """The median of each figure over the successful runs; None if none succeeded."""
        good = [m for m in self.runs.get((case, step, tool), []) if ok(m, tool)]
        if not good:
            return None
        pick = lambda f: statistics.median(f(m) for m in good)  # noqa: E731
        return Measure(pick(lambda m: m.wall), pick(lambda m: m.cpu), int(pick(lambda m: m.rss_kib)),
                       int(pick(lambda m: m.stored)), 0, pick(lambda m: m.load))

    def failures(self, case: str, step: str, tool: str) -> list[int]:
        return [m.code for m in self.runs.get((case, step, tool), []) if not ok(m, tool)]

    def loads(self) -> list[float]:
        return [m.load for ms in self.runs.values() for m in ms]


def table(res: Results, case, tools: list[str]) -> list[str]:
    """One Markdown table for a case: a row per step and tool."""
    lines = ["| step | tool | wall s | x restic | CPU s | peak RSS MiB | stored MiB | sent MiB |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for step in case.steps:
        before = {t: previous_stored(res, case, step, t) for t in tools}
        restic = res.median(case.name, step, "restic")
        for tool in tools:
            m = res.median(case.name, step, tool)
            if m is None:
                codes = res.failures(case.name, step, tool)
                lines.append(f"| {step} | {tool} | failed (exit {codes}) | | | | | |")
                continue
            ratio = f"{m.wall / restic.wall:.2f}" if restic and restic.wall > 0 else "-"
            sent = "-" if step in ("restore", "check") else f"{(m.stored - before[tool]) / MIB:.1f}"
            lines.append(f"| {step} | {tool} | {m.wall:.2f} | {ratio} | {m.cpu:.2f} | {m.rss_kib / 1024:.0f} "
                         f"| {m.stored / MIB:.1f} | {sent} |")
    base = res.median(case.name, "b3sum", "b3sum")
    if base:
        lines.append(f"| b3sum | (baseline) | {base.wall:.2f} | {base.wall / restic_first(res, case):.2f} "
                     f"| {base.cpu:.2f} | {base.rss_kib / 1024:.0f} | | |")
    return lines


def restic_first(res: Results, case) -> float:
    m = res.median(case.name, "first", "restic")
    return m.wall if m and m.wall > 0 else float("nan")


def previous_stored(res: Results, case, step: str, tool: str) -> int:
    """Repository size before this step: after the step before it, or 0 for the first."""
    i = case.steps.index(step)
    m = res.median(case.name, case.steps[i - 1], tool) if i > 0 else None
    return m.stored if m else 0


def targets(res: Results, case, tools: list[str]) -> list[str]:
    """The issue's targets for Chancery (local site) against the fastest or leanest peer."""
    peers = [t for t in tools if t in PEERS]
    me = "chancery"
    if me not in tools or not peers:
        return []
    out = []

    def best(step, key):
        ms = [(key(m), t) for t in peers if (m := res.median(case.name, step, t))]
        return min(ms) if ms else None

    for step, want in (("first", 2.0), ("restore", 2.0)):
        m, b = res.median(case.name, step, me), best(step, lambda m: m.wall)
        if m and b and step in case.steps:
            speed = b[0] / m.wall
            out.append(verdict(f"{step}: {speed:.2f}x as fast as the fastest peer ({b[1]}, {b[0]:.2f} s)",
                               speed >= want, f"target >= {want:.0f}x; missed by a factor {want / speed:.2f}"))
    m, b = res.median(case.name, "nochange", me), best("nochange", lambda m: m.wall)
    if m and b:
        frac = m.wall / b[0]
        out.append(verdict(f"nochange: {frac:.2f} of the fastest peer's time ({b[1]}, {b[0]:.2f} s)", frac <= 0.5,
                           f"target <= 0.50; missed by a factor {frac / 0.5:.2f}"))
    rss_missed = []
    for step in case.steps:
        m, b = res.median(case.name, step, me), best(step, lambda m: m.rss_kib)
        if m and b and m.rss_kib > b[0]:
            rss_missed.append(f"{step} {m.rss_kib / b[0]:.1f}x {b[1]}'s {b[0] / 1024:.0f} MiB")
    out.append(verdict("peak RSS at most the leanest peer's in every step", not rss_missed,
                       "missed in " + "; ".join(rss_missed)))
    last = [s for s in case.steps if s not in ("restore", "check")][-1]
    m, b = res.median(case.name, last, me), best(last, lambda m: m.stored)
    if m and b:
        out.append(verdict(f"bytes stored after {last}: {m.stored / MIB:.1f} MiB, smallest peer {b[1]} "
                           f"{b[0] / MIB:.1f} MiB", m.stored <= b[0], f"{m.stored / b[0]:.2f}x the smallest"))
    m, base = res.median(case.name, "first", me), res.median(case.name, "b3sum", "b3sum")
    if m and base and base.wall > 0:
        r = m.wall / base.wall
        out.append(verdict(f"first backup takes {r:.2f}x the time of reading and hashing the data (b3sum)",
                           r <= 2.0, f"target <= 2; missed by a factor {r / 2:.2f}"))
    return out


def verdict(what: str, met: bool, why: str) -> str:
    return f"- {what}: **met**" if met else f"- {what}: **missed** ({why})"


def markdown(res: Results, cases, tools: list[str], head: list[str]) -> str:
    out = list(head)
    for case in cases:
        out += ["", f"### {case.title}", "",
                f"{case.bytes / MIB:.1f} MiB in {case.files} files. {case.note}.", ""]
        out += table(res, case, tools)
        t = targets(res, case, tools)
        if t:
            out += ["", "Chancery against the issue's targets (local site, medians):", "", *t]
    return "\n".join(out) + "\n"


def chart(res: Results, cases, tools: list[str], path: Path) -> Optional[str]:
    """A PNG of wall times relative to restic, one panel per case; None if matplotlib is absent."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, axes = plt.subplots(len(cases), 1, figsize=(10, 3.2 * len(cases)), squeeze=False)
    width = 0.8 / len(tools)
    for ax, case in zip(axes[:, 0], cases):
        for i, tool in enumerate(tools):
            vals = []
            for step in case.steps:
                m, r = res.median(case.name, step, tool), res.median(case.name, step, "restic")
                vals.append(m.wall / r.wall if m and r and r.wall > 0 else 0)
            ax.bar([x + i * width for x in range(len(case.steps))], vals, width, label=tool)
        ax.set_xticks([x + 0.4 - width / 2 for x in range(len(case.steps))], case.steps)
        ax.axhline(1.0, color="grey", linewidth=0.8)
        ax.set_ylabel("wall time / restic")
        ax.set_title(case.title)
    axes[0, 0].legend(ncol=len(tools), fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return str(path)
