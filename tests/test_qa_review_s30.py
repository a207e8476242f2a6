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



def test_after_a_run_json_in_process_the_next_json_document_and_prints_are_on_stdout(tmp_path, capfd):
    """``main(["run", JOB, "--json"])`` then ``main(["probe", PLATE, "--json"])`` in one process (a host, a
    farm script or a test). Before: the run pointed fd 1 and ``sys.stdout`` at stderr for its event stream and
    never put them back, so the probe's one document (and every later print) went to stderr."""
    from test_qa_json_errors import _job
    job = _job(tmp_path)
    capfd.readouterr()
    assert cli.main(["run", job, "--json"]) == 0
    assert cli.main(["probe", str(tmp_path / "p" / "plate.####.exr"), "--json"]) == 0
    print("after")
    sys.stdout.flush()
    out, err = capfd.readouterr()
    lines = out.splitlines()
    assert lines[-1] == "after" and '"frames_on_disk"' not in err, (out[-300:], err[-300:])
    assert json.loads(lines[-2])["frames_on_disk"] == "1-3"
    events = [json.loads(x) for x in lines[:-2]]
    assert events[-1]["type"] == "result" and all(e["type"] in ("progress", "frame", "result") for e in events)


# --- Blender: Use my animated roto (every_frame) with a layer whose visibility is keyed ---------------

def _visibility_mask(frames):
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "blender"))
    import test_qa_blender_visibility as v
    hero, garbage = v._layer('he"ro', (50, 20, 150, 80)), v._layer("garbage", (0, 0, 60, 100), blend="MERGE_SUBTRACT")
    mask = v._mask([hero, garbage], {'he\\"ro': [2, 500, 900]},
                   animated=[('he\\"ro', "hide_render"), ("garbage", "alpha")])
    read_at, read = v._reader(mask, hidden={'he"ro': range(400, 600)}, alpha={"garbage": {f: 0.2 for f in frames}})
    info = v.gather.ClipInfo(size=(200, 100), first_file=1001, frame_start=1, frame_offset=0, duration=1000,
                             pattern="/shots/plate.####.exr", name="plate")
    return v, mask, read_at, read, info


def test_every_frame_with_keyed_visibility_reads_each_frame_once():
    """Use my animated roto on a 1000-frame range, 'he"ro' keyed hidden on 400-599 and the garbage layer's
    opacity keyed 0.2 (skipped) on 700-1000: one scene change per frame (before: 2000, a visibility pass then the
    reading pass; a heavy scene's frame_set is what costs), prompts and cuts unchanged (800 frames of the
    hero, cut on the 500 of them where the garbage draws)."""
    v, mask, read_at, read, info = _visibility_mask(range(700, 1001))
    objs, _sub, notes = v.gather.gather_mask_objects(mask, info, scene_frames=range(1, 1001), read_mask_at=read_at,
                                                     current_frame=1, every_frame=True)
    assert len(read) == 1000 and sorted(read) == list(range(1, 1001))
    (hero,) = objs
    adds = sorted(p["frame"] - 1000 for p in hero["prompts"] if p.get("mode") != "subtract")
    cuts = sorted(p["frame"] - 1000 for p in hero["prompts"] if p.get("mode") == "subtract")
    assert adds == [f for f in range(1, 1001) if not 400 <= f < 600]
    assert cuts == [f for f in range(1, 700) if not 400 <= f < 600]
    # each frame's prompt is the shape read on that frame (the reader moves nothing here: the same box)
    assert {tuple(map(tuple, p["points"])) for p in hero["prompts"] if p.get("mode") != "subtract"} == \
        {tuple(map(tuple, hero["prompts"][0]["points"]))}
    assert any("200 of the range's 1000" in n for n in notes), notes


def test_every_frame_reads_the_shape_of_each_frame():
    """The layers read in the visibility pass are read on their own frame: a shape that moves each frame gives
    each frame its own polygon (not the last frame's)."""
    v, mask, read_at, read, info = _visibility_mask(())
    hero = mask.layers['he"ro']

    def moving(f):
        m = read_at(f)
        for i, p in enumerate(hero.splines[0].points):
            x0, y0 = v.convert.px_to_mask(((50, 150)[i in (1, 2)] + f % 7, (20, 80)[i >= 2]), info.size, info.origin)
            p.co = p.handle_left = p.handle_right = (x0, y0)
        return m
    objs, _sub, _notes = v.gather.gather_mask_objects(mask, info, scene_frames=range(1, 21), read_mask_at=moving,
                                                      current_frame=1, every_frame=True)
    (ob,) = objs
    xs = {p["frame"] - 1000: round(min(q[0] for q in p["points"])) for p in ob["prompts"] if p.get("mode") != "subtract"}
    assert xs == {f: 50 + f % 7 for f in range(1, 21)}, xs
