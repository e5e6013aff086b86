#!/usr/bin/env python3
"""The table of bench/overhead.sh from the logs of a run, also one that was stopped early.

Every build writes `<variant>-<step>.log` (step: cold, reuse, warm1..N) and builds run one after
the other, so a build lasted from its log's creation (statx birth time) to the next log's
creation. The last log is left out (in a stopped run it may be unfinished). Warm medians use
the rounds every variant completed.

`outside/s` is the build's time minus cargo's own `Finished ... in Xs`: what the Dockerfile or
gantry costs around the compile, much less sensitive to a loaded machine than the total (bare
cargo runs with -q and has no such line).

usage: bench/overhead-logs.py WORK/CRATE
"""
import os
import re
import statistics
import subprocess
import sys

d = sys.argv[1]
logs = []
for name in os.listdir(d):
    m = re.fullmatch(r"(.+)-(cold|reuse|warm(\d+))\.log", name)
    if m:
        path = os.path.join(d, name)
        # GNU stat: birth time (statx) and last write, in nanoseconds
        out = subprocess.run(["stat", "-c", "%.9W %.9Y", path], capture_output=True, text=True, check=True)
        born, written = (float(x) for x in out.stdout.split())
        if born == 0:
            sys.exit("no file birth times on this filesystem")
        logs.append([born, written, m.group(1), m.group(2), name])
logs.sort()
logs = [log + [logs[i + 1][0] - log[0]] for i, log in enumerate(logs[:-1])]


def cargo_seconds(name):
    """cargo's last `Finished ... in [Nm ]X.YZs` in a log, or None."""
    text = open(os.path.join(d, name), errors="replace").read()
    found = re.findall(r"Finished `[^`]*` profile .* in (?:(\d+)m )?([\d.]+)s", text)
    if not found:
        return None
    m, sec = found[-1]
    return int(m or 0) * 60 + float(sec)


variants = []
for _, _, v, _, _, _ in logs:
    if v not in variants:
        variants.append(v)
warm = {v: {} for v in variants}
outside = {v: {} for v in variants}
cold = {}
for _, _, v, step, name, secs in logs:
    if step.startswith("warm"):
        warm[v][int(step[4:])] = secs
        c = cargo_seconds(name)
        if c is not None:
            outside[v][int(step[4:])] = secs - c
    else:
        cold[v] = secs if step == "cold" and not v.endswith("@before") else None
rounds = [r for r in sorted({r for w in warm.values() for r in w}) if all(r in w for w in warm.values())]
# The last log may still be growing in a stopped run: only rounds that every variant finished.
med = {v: statistics.median(warm[v][r] for r in rounds) for v in variants if rounds}
print(f"{os.path.basename(d.rstrip('/'))}: warm = median of rounds {rounds}")
print(f"{'variant':22} {'cold/s':>8} {'warm/s':>8} {'xbare':>7} {'xplain':>7} {'xbefore':>7} {'outside/s':>9}   warm runs/s")
for v in variants:
    if v not in med:
        continue
    x = lambda b: f"{med[v] / med[b]:.3f}" if b in med else "-"
    c = f"{cold[v]:.1f}" if cold.get(v) else "-"
    runs = " ".join(f"{warm[v][r]:.2f}" for r in rounds)
    out = [outside[v][r] for r in rounds if r in outside[v]]
    o = f"{statistics.median(out):.2f}" if out else "-"
    print(f"{v:22} {c:>8} {med[v]:8.2f} {x('bare'):>7} {x('plain'):>7} {x(v + '@before'):>7} {o:>9}   {runs}")
