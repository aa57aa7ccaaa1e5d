"""Checks that runs print the same per-step losses within a relative tolerance.

Usage: compare_losses.py TOLERANCE REFERENCE OTHER...  (files holding
`step N loss X` lines, e.g. soap-run --print-loss output).
"""
import re
import sys

def losses(path):
    with open(path) as f:
        return [float(m.group(2)) for m in
                (re.match(r"step (\d+) loss (\S+)", l) for l in f) if m]

tolerance = float(sys.argv[1])
reference = losses(sys.argv[2])
if not reference:
    sys.exit(f"{sys.argv[2]}: no loss lines")
for path in sys.argv[3:]:
    other = losses(path)
    if len(other) != len(reference):
        sys.exit(f"{path}: {len(other)} steps, reference has {len(reference)}")
    for step, (a, b) in enumerate(zip(reference, other), 1):
        if abs(a - b) > tolerance * max(abs(a), 1e-30):
            sys.exit(f"{path}: step {step}: loss {b} vs reference {a}")
print(f"{len(sys.argv) - 3} runs match the reference over {len(reference)} steps")
