"""A stand-in for samatte.pipeline used by the worker/client tests (``--pipeline cli_fake_pipeline``).

Behaviour comes from the JobSpec's ``meta.fake`` dict: ``frames`` (number of progress steps),
``delay`` (seconds per step), ``crash_at`` (step at which the process dies with os._exit(3) after
writing to stderr), ``print`` (print junk to stdout, which must not reach the protocol pipe),
``fail`` (an error code to raise), ``hang`` (sleep this long without progress), ``warn`` (a warning
logged on samatte's logger at the second step: the worker forwards it as a ``log`` message), ``stderr_junk``
(with ``crash_at``: a line of that many bytes written to stderr before the crash's own line).
"""
import logging
import os
import sys
import time

from samatte.errors import error_from_code
from samatte.jobspec import validate
from samatte.progress import Progress, check_cancel


def run_iter(job, *, cancel=None):
    job = validate(job)
    fake = (job.get("meta") or {}).get("fake", {})
    n = int(fake.get("frames", 3))
    delay = float(fake.get("delay", 0.0))
    if fake.get("print"):
        print("stray print from a library")
        sys.stdout.flush()
        os.write(1, b"stray bytes on fd 1\n")
    if fake.get("hang"):
        time.sleep(float(fake["hang"]))
    for i in range(n):
        check_cancel(cancel)
        if fake.get("crash_at") is not None and i == int(fake["crash_at"]):
            if fake.get("stderr_junk"):
                os.write(2, b"junk " + b"x" * int(fake["stderr_junk"]) + b"\n")
            sys.stderr.write("fake pipeline: simulated crash in frame %d\n" % (1001 + i))
            sys.stderr.flush()
            os._exit(3)
        if fake.get("fail") and i == 1:
            raise error_from_code(fake["fail"], "simulated failure", {"frame": 1001 + i})
        if fake.get("warn") and i == 1:
            logging.getLogger("samatte.fake").warning(fake["warn"])
        time.sleep(delay)
        yield Progress("matte", 1001 + i, i + 1, n, "")
    return {"job": job["name"], "status": "done", "frames": list(range(1001, 1001 + n)), "written": [],
            "skipped": [], "output": job["output"]["path"], "tracker": "fake", "matte": "fake",
            "scores": {str(1001 + i): 1.0 for i in range(n)}, "elapsed_s": 0.0, "samatte_version": "x"}
