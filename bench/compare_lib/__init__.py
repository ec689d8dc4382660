"""Helpers of `bench/compare`: the comparison of Chancery with restic, rustic and borg.

measure: running a command and taking its wall time, CPU time and peak RSS; the machine.
tools: finding or installing each tool, and the commands each step runs with it.
datasets: the data sets (real toolchain trees and generated cases) and their edits.
report: medians, ratios to restic, targets, the Markdown file and the optional chart.

Python 3.11 standard library only; the chart uses matplotlib when it is installed.
"""
