"""Adds issue 8's training options to a strategy file (as version 2).

Usage: set_training.py IN OUT ZERO_STAGE OFFLOAD(0/1) RECOMPUTE(all/none)
"""
import json
import sys

src, dst, zero, offload, recompute = sys.argv[1:6]
with open(src) as f:
    s = json.load(f)
s["version"] = 2
s["zero_stage"] = int(zero)
if offload == "1":
    s["offload_optimizer"] = True
for op in s["ops"]:
    if recompute == "all":
        op["recompute"] = True
with open(dst, "w") as f:
    json.dump(s, f, indent=2)
