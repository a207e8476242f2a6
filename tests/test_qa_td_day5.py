"""QA of a pipeline TD's fifth day: a shot-batch tool that writes JobSpec files from hand-edited templates
and drives ``samatte`` in shell pipelines (``status --json > file``, ``validate | head -1`` under
``set -o pipefail``), where an empty ``work_dir`` and a stdout that cannot be written were mishandled."""
import json
import os
import subprocess
import sys

import pytest

from samatte import jobspec
from samatte.trackcache import default_work_dir

CORE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "core")


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("qa_td_day5")
    return make_shot(str(d), frames=3, size=(64, 64), seed=5)


def _job(s, out, *, name="td5"):
    job = jobspec.new_job(s["plate"], str(out), frames="%d-%d" % (s["frames"][0], s["frames"][-1]),
                          name=name, tracker="flow", matte="refine", quality="draft")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    return job


def _samatte(*argv, **kw):
    env = dict(os.environ, PYTHONPATH=CORE + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "samatte"] + list(argv), env=env, **kw)


def test_an_empty_work_dir_in_a_job_file_is_the_default_not_the_job_file_s_folder(shot, tmp_path):
    # a template's "work_dir": "$WORK" with the variable unset: two job files in one folder
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    for name in ("sh010", "sh020"):
        doc = _job(shot, tmp_path / name / "m.####.exr", name=name)
        doc["work_dir"] = ""
        (jobs / (name + ".json")).write_text(json.dumps(doc))
    loaded = jobspec.load(str(jobs / "sh010.json"))
    as_dict = json.loads((jobs / "sh010.json").read_text())
    # the file and the same document given as a dict agree: <output folder>/.samatte/<job name>
    assert default_work_dir(loaded) == default_work_dir(jobspec.validate(as_dict)) == \
        str(tmp_path / "sh010" / ".samatte" / "sh010")
    from samatte.cli import main
    assert main(["run", str(jobs / "sh010.json"), "--stage", "track"]) == 0
    assert main(["qc", str(jobs / "sh010.json")]) == 5   # nothing matted yet: its report is written all the same
    # nothing of samatte's among the job files (before: manifest.json, track/ and qc/ were written here,
    # one work dir for every job file of the folder)
    assert sorted(os.listdir(jobs)) == ["sh010.json", "sh020.json"]
    assert os.path.isfile(tmp_path / "sh010" / ".samatte" / "sh010" / "manifest.json")
    assert os.path.isfile(tmp_path / "sh010" / ".samatte" / "sh010" / "qc" / "qc.json")
