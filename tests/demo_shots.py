"""Small demo shots (samatte.demo.make_shot) and a job that tracks and mattes their ball, shared by
the CLI, worker and resume tests."""


def make_demo_shot(tmp_path_factory, name, frames):
    """(shot dict, folder) for a ``frames``-long 128x72 demo shot in a fresh temp folder."""
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp(name)
    return make_shot(str(d), frames=frames, size=(128, 72)), d


def demo_job(shot, out, **kw):
    """A job over the whole shot: flow tracker, draft refine matte, the ball prompted as a polygon."""
    from samatte import jobspec
    s, _ = shot
    job = jobspec.new_job(s["plate"], str(out), frames="%d-%d" % (s["frames"][0], s["frames"][-1]),
                          tracker="flow", matte="refine", quality="draft", **kw)
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    return job
