"""Shared by tests/test_worker.py and tests/test_worker_reliability.py (no tests here): the
``python -m samatte.worker`` process with line-level access to its pipes, and a fake job for
tests/cli_fake_pipeline.py."""
import os
import subprocess
import sys

from samatte import protocol

TESTS = os.path.dirname(os.path.abspath(__file__))


class RawWorker:
    """The worker process with line-level access to its pipes (tests/ on its PYTHONPATH)."""

    def __init__(self, *args):
        env = dict(os.environ)
        env["PYTHONPATH"] = TESTS + os.pathsep + env.get("PYTHONPATH", "")
        self.proc = subprocess.Popen([sys.executable, "-m", "samatte.worker"] + list(args),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=env)

    def send_line(self, data):
        self.proc.stdin.write(data if isinstance(data, bytes) else data.encode())
        self.proc.stdin.flush()

    def send(self, msg):
        self.send_line(protocol.encode(msg))

    def read(self):
        line = self.proc.stdout.readline()
        assert line, "worker closed stdout; stderr:\n" + self.proc.stderr.read().decode()
        return protocol.decode(line)  # every stdout line must be valid protocol

    def read_until(self, until):
        """Messages up to and including the first that ``until`` accepts: a predicate, a message type
        or a tuple of types."""
        if not callable(until):
            types = (until,) if isinstance(until, str) else until
            until = lambda m: m["type"] in types  # noqa: E731
        out = []
        while True:
            m = self.read()
            out.append(m)
            if until(m):
                return out

    def finish(self, timeout=30):
        """Close stdin (end of input), read the rest of stdout; (exit code, remaining messages)."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        rest = self.proc.stdout.read()
        rc = self.proc.wait(timeout=timeout)
        self.proc.stderr.close()
        return rc, [protocol.decode(line) for line in rest.splitlines() if line.strip()]


def fake_job(**fake):
    return {"samatte_job": 1, "name": "fake", "plate": {"path": "/plates/p.####.exr"},
            "objects": [{"name": "hero", "masks": "/roto/hero.####.png"}],
            "output": {"path": "/out/m.####.exr"}, "meta": {"fake": fake}}
