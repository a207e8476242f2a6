"""QA of a pipeline TD's day 7 on the farm: ``samatte status`` / ``qc`` / ``run`` pointed at the farm
bundle's ``samatte_farm_job.json`` of a half-rendered farm job (the file the TD finds in the bundle)."""
import os

import pytest

from samatte import jobspec
from samatte.farm import export_openjd


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("qa151f")
    s = make_shot(str(d / "plates"), frames=2, size=(64, 64))
    job = jobspec.new_job(s["plate"], str(d / "out" / "m.####.exr"), frames="1001-1002", name="sh010",
                          tracker="flow", matte="refine", quality="draft")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    return export_openjd(job, str(d / "bundle"), chunk=1), d


@pytest.mark.parametrize("argv", [["status"], ["qc"], ["run"], ["validate"]])
def test_a_farm_job_file_given_for_a_jobspec_says_what_it_is_and_what_to_give(bundle, argv, capsys):
    """It said "not a samatte JobSpec: missing 'samatte_job' version field", of a file samatte wrote
    whose ``job`` field holds one: a TD took it for a damaged file. It now says it is a farm job and what
    each command takes instead; the same code and exit (JOBSPEC_INVALID, 2), nothing written."""
    from samatte import cli
    res, d = bundle
    farm_job = os.path.join(res["bundle"], "samatte_farm_job.json")
    before = sorted(os.listdir(res["bundle"]))
    assert cli.main(argv + [farm_job]) == 2
    err = capsys.readouterr().err
    assert "[JOBSPEC_INVALID] not a samatte JobSpec but a farm job (samatte_farm_job.json" in err, err
    assert "the JobSpec it was exported from" in err and "samatte farm task FILE --root" in err, err
    assert sorted(os.listdir(res["bundle"])) == before and not os.path.exists(str(d / "out"))


def test_any_other_json_is_still_missing_its_version_field():
    from samatte.errors import JobSpecError
    with pytest.raises(JobSpecError) as e:
        jobspec.validate({"name": "x", "samatte_farm": 1})
    assert "missing 'samatte_job' version field" in e.value.message


@pytest.fixture
def rendered(tmp_path):
    """A job of two frames, both rendered, in ``tmp_path/out``."""
    from samatte import pipeline
    from samatte.demo import make_shot
    s = make_shot(str(tmp_path / "plates"), frames=2, size=(64, 64))
    job = jobspec.new_job(s["plate"], str(tmp_path / "pub" / "m.####.exr"), frames="1001-1002", name="sh010",
                          tracker="flow", matte="refine", quality="draft")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    pipeline.run(job)
    return job


def _count_checks(monkeypatch):
    from samatte.farm import qc
    seen = []
    real = qc._check_frame
    monkeypatch.setattr(qc, "_check_frame", lambda path, *a: seen.append(path) or real(path, *a))
    return seen


def test_qc_whose_report_folder_cannot_be_made_says_so_before_checking_a_frame(rendered, tmp_path, monkeypatch,
                                                                                 capsys):
    """The report folder was made only after every frame had been read and checked (minutes on a long shot),
    and its error said nothing of --report. Now it is made first and the error says to give a writable one."""
    from samatte import cli
    from samatte.errors import OutputError
    from samatte.farm.qc import run_qc
    seen = _count_checks(monkeypatch)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OutputError) as e:
        run_qc(rendered, report_dir=str(tmp_path / "afile" / "qc"))
    assert "cannot create the QC report folder" in e.value.message and "--report DIR" in e.value.message
    assert seen == []
    jobspec.save(rendered, str(tmp_path / "job.json"))
    assert cli.main(["qc", str(tmp_path / "job.json"), "--report", str(tmp_path / "afile" / "qc")]) == 5
    assert "--report DIR" in capsys.readouterr().err and seen == []
    report = run_qc(rendered, report_dir=str(tmp_path / "elsewhere"))   # a writable one: the checks run
    assert report["ok"] and len(seen) == 2


@pytest.fixture
def read_only(rendered, tmp_path):
    """The job's published output folder made read-only: a read-only mount of a copy of it where this
    process may mount (root in a container), else chmod a-w (a user other than root)."""
    import shutil
    import subprocess
    pub = str(tmp_path / "pub")
    if os.geteuid() != 0:
        os.chmod(pub, 0o555)
        yield pub
        os.chmod(pub, 0o755)
        return
    keep = str(tmp_path / "pub_copy")
    shutil.copytree(pub, keep)
    if subprocess.run(["mount", "-t", "tmpfs", "tmpfs", pub], capture_output=True).returncode != 0:
        pytest.skip("root without mount: no read-only folder to test with")
    try:
        shutil.rmtree(os.path.join(pub, ".samatte"), ignore_errors=True)
        for n in os.listdir(keep):
            src = os.path.join(keep, n)
            (shutil.copytree if os.path.isdir(src) else shutil.copy2)(src, os.path.join(pub, n))
        subprocess.run(["mount", "-o", "remount,ro", pub], check=True)
        yield pub
    finally:
        subprocess.run(["umount", pub], capture_output=True)


def test_qc_of_a_read_only_published_output_says_to_give_a_report_folder(rendered, read_only, tmp_path,
                                                                          monkeypatch):
    """QC of a published (read-only) output with the default report folder (inside the output's .samatte):
    every frame was read and checked, then "cannot write the QC report file .../contact_sheet.png: Read-only
    file system". Now refused before a frame is checked, saying what to do; with --report it runs."""
    from samatte import pipeline
    from samatte.errors import OutputError
    from samatte.farm.qc import run_qc
    assert set(pipeline.frame_status(rendered)["frames"].values()) == {"complete"}
    seen = _count_checks(monkeypatch)
    with pytest.raises(OutputError) as e:
        run_qc(rendered)
    assert "--report DIR" in e.value.message and seen == [], e.value.message
    report = run_qc(rendered, report_dir=str(tmp_path / "qc"))
    assert report["ok"] and len(seen) == 2 and os.path.isfile(str(tmp_path / "qc" / "qc.json"))
