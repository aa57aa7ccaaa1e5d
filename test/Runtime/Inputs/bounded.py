#!/usr/bin/env python3
"""Runs a command that must FAIL within a time limit (a fault test):

  bounded.py SECONDS -- COMMAND ARGS...

Passes the command's output through, then prints `exit N within the limit`
and exits 0 when the command exited non-zero within SECONDS; exits 1 when
it succeeded, and 2 (after killing it) when it ran past the limit: a hang."""
import os
import signal
import subprocess
import sys
import time


def main():
    limit = float(sys.argv[1])
    assert sys.argv[2] == "--"
    start = time.monotonic()
    p = subprocess.Popen(sys.argv[3:], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = p.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
        sys.stdout.write(out.decode(errors="replace"))
        print("HANG: still running after %g s" % limit)
        return 2
    sys.stdout.write(out.decode(errors="replace"))
    if p.returncode == 0:
        print("UNEXPECTED SUCCESS after %.1f s" % (time.monotonic() - start))
        return 1
    print("exit %d within the limit" % p.returncode)
    return 0


if __name__ == "__main__":
    sys.exit(main())
