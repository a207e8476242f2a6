"""QA review s30: `--json` commands run in-process (core/samatte/cli.py ``_run_document``), and Blender mask
layers with animated visibility (blender_addon/gather.py)."""
import json
import os
import sys
import threading

from samatte import cli


def test_two_json_commands_in_threads_each_print_their_document_and_stdout_is_put_back(tmp_path, capfd,
                                                                                       monkeypatch):
    """A host (or a test) calling ``cli.main([..., "--json"])`` in two threads at once: A starts, B starts
    (fd 1 already pointed at stderr by A), A ends, B ends. Before: B saved the redirected fd 1 and put it
    back last, so B's document went to stderr and the process's stdout stayed pointed at stderr for good
    (a later ``print`` landed there too)."""
    import samatte.pipeline as pipeline
    a_in, b_in, a_done = threading.Event(), threading.Event(), threading.Event()

    def frame_status(job, frames=None):
        if job["name"] == "a":
            a_in.set()
            # B enters while A is inside (up to 1 s: with the fix B waits for A, so it cannot enter)
            b_in.wait(1.0)
        else:
            b_in.set()
            a_done.wait(5.0)     # B ends after A (before the fix; with it B starts after A ended)
        return {"name": job["name"], "frames": {}, "track": {}, "resolved": {"tracker": "flow", "matte": "none"}}
    monkeypatch.setattr(pipeline, "frame_status", frame_status)
    monkeypatch.setattr("samatte.jobspec.load", lambda path: {"name": os.path.basename(path)})
    rcs = {}

    def call(name):
        rcs[name] = cli.main(["status", str(tmp_path / name), "--json"])
        if name == "a":
            a_done.set()

    capfd.readouterr()
    ta = threading.Thread(target=call, args=("a",))
    ta.start()
    assert a_in.wait(5.0)
    tb = threading.Thread(target=call, args=("b",))
    tb.start()
    ta.join(10.0)
    tb.join(10.0)
    print("after")           # the program's own stdout afterwards
    sys.stdout.flush()
    out, err = capfd.readouterr()
    assert rcs == {"a": 0, "b": 0}
    lines = out.splitlines()
    assert lines[-1] == "after", (out, err)
    docs = [json.loads(x) for x in lines[:-1]]
    assert sorted(d["name"] for d in docs) == ["a", "b"], (out, err)
    assert '"name"' not in err
