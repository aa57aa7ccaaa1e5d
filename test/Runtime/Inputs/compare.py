#!/usr/bin/env python3
"""Compares two soap-run results: the losses it printed (--print-loss) and
the weights it dumped (--dump-weights DIR, one .npy per weight).

  compare.py [--tolerance T] [--skip N] REF_LOSSES REF_DIR LOSSES DIR

Losses: relative error per step, at most T (default 1e-5); weights: per
tensor, max |a - b| <= T * max |b| + 1e-7 (the floor: tensors whose exact
gradient is zero, a conv bias before batch norm, hold rounding noise).
T = 0 asks for identical bits. `--skip N` drops the reference's first N
steps (a resumed run printed only the later ones). Exits 1, saying where,
on a difference."""
import os
import struct
import sys


def losses(path, skip=0):
    out = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 4 and parts[0] == "step" and parts[2] == "loss":
                out.append((int(parts[1]), float(parts[3])))
    return out[skip:]


def npy(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:6] == b"\x93NUMPY", path
    hlen = struct.unpack("<H", data[8:10])[0]
    header = data[10:10 + hlen].decode()
    assert "'<f4'" in header, header
    body = data[10 + hlen:]
    return struct.unpack("<%df" % (len(body) // 4), body)


def main():
    args = sys.argv[1:]
    tol, skip = 1e-5, 0
    while args and args[0].startswith("--"):
        if args[0] == "--tolerance":
            tol = float(args[1])
        elif args[0] == "--skip":
            skip = int(args[1])
        args = args[2:]
    ref_l, ref_d, l, d = args
    a, b = losses(ref_l, skip), losses(l)
    ok = True
    if len(a) != len(b) or not a:
        print("loss count differs: %d vs %d" % (len(a), len(b)))
        return 1
    worst_loss = 0.0
    for (sa, la), (sb, lb) in zip(a, b):
        if sa != sb:
            print("step numbers differ: %d vs %d" % (sa, sb))
            return 1
        rel = abs(la - lb) / max(abs(la), 1e-30)
        worst_loss = max(worst_loss, rel)
        if rel > tol:
            print("step %d: loss %r vs %r (relative %.3g)" % (sa, lb, la, rel))
            ok = False
    names = sorted(f for f in os.listdir(ref_d) if f.endswith(".npy"))
    if not names:
        print("no weights in " + ref_d)
        return 1
    worst = 0.0
    for n in names:
        x, y = npy(os.path.join(ref_d, n)), npy(os.path.join(d, n))
        if len(x) != len(y):
            print("%s: %d vs %d elements" % (n, len(y), len(x)))
            return 1
        scale = max(abs(v) for v in x)
        err = max(abs(p - q) for p, q in zip(x, y))
        floor = 1e-7 if tol > 0 else 0.0
        if scale > 1e-4:
            worst = max(worst, err / scale)
        if err > tol * scale + floor:
            print("%s: error %.3g, largest element %.3g" % (n, err, scale))
            ok = False
    print("%s: %d steps, %d weights, loss rel %.2e, weights rel %.2e" %
          ("ok" if ok else "FAILED", len(a), len(names), worst_loss, worst))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
