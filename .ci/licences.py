#!/usr/bin/env python3
"""Fails when a dependency's licence offers no permissive option (the project ships under
Apache-2.0 OR MIT, so every crate it links must allow that)."""
import json
import re
import subprocess
import sys

ALLOWED = {
    "MIT", "MIT-0", "Apache-2.0", "Apache-2.0 WITH LLVM-exception", "BSD-2-Clause", "BSD-3-Clause",
    "ISC", "Zlib", "CC0-1.0", "Unlicense", "BSL-1.0", "0BSD", "Unicode-3.0", "Unicode-DFS-2016",
}


def permissive(expr: str) -> bool:
    expr = expr.replace("/", " OR ").replace("(", " ").replace(")", " ")
    for option in re.split(r"\s+OR\s+", expr):
        parts = [p.strip() for p in re.split(r"\s+AND\s+", option)]
        if all(p in ALLOWED for p in parts if p):
            return True
    return False


meta = json.loads(subprocess.check_output(["cargo", "metadata", "--format-version", "1", "--locked"]))
bad = [(p["name"], p["version"], p.get("license")) for p in meta["packages"]
       if not p.get("license") or not permissive(p["license"])]
for name, version, lic in bad:
    print(f"licence not allowed: {name} {version}: {lic}")
print(f"{len(meta['packages'])} packages checked, {len(bad)} not permissive")
sys.exit(1 if bad else 0)
