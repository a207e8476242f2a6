"""The Blender add-on's bpy-free side (through ``addon_plain``), day 7: the Output folder that makes a given matte
sequence for a clip (``jobs.output_dir_of``, the inverse of ``jobs.output_pattern``), which Check mattes names
when the compositor shows the clip's mattes from another folder (the .blend saved elsewhere with a ``//``
Output). Before, it named the clip's own subfolder (``<Output>/plate``): set as Output, the job's mattes became
``<Output>/plate/plate/plate_matte.####.exr``. The bpy side: ``test_qa_blender_day7_bpy.py``."""
import os

from addon_plain import plain

jobs, gather = plain("jobs"), plain("gather")


def _info(pattern):
    return gather.ClipInfo(size=(64, 64), first_file=1001, duration=6, pattern=pattern, name="plate.1001.exr")


def test_the_output_folder_of_a_clips_mattes_is_the_one_that_makes_them(tmp_path):
    info = _info(str(tmp_path / "plates" / "plate.####.exr"))
    out = str(tmp_path / "projA" / "samatte")
    shown = jobs.output_pattern(out, info)
    assert shown == os.path.join(out, "plate", "plate_matte.####.exr")
    assert jobs.output_dir_of(shown, info) == out                         # before: <out>/plate was advised
    assert jobs.output_pattern(jobs.output_dir_of(shown, info), info) == shown
    # padding follows the plate's: a 6-digit plate's mattes
    info6 = _info(str(tmp_path / "plates" / "plate.######.exr"))
    assert jobs.output_dir_of(jobs.output_pattern(out, info6), info6) == out


def test_mattes_of_other_plate_files_have_no_output_folder(tmp_path):
    old = jobs.output_pattern(str(tmp_path / "samatte"), _info(str(tmp_path / "v1" / "plate.####.exr")))
    # the clip's source replaced by plate_v2.####.exr: no Output folder makes plate's mattes for it
    assert jobs.output_dir_of(old, _info(str(tmp_path / "v2" / "plate_v2.####.exr"))) is None
    # and one whose folder is not <Output>/<clip>/ either
    assert jobs.output_dir_of(str(tmp_path / "mine" / "plate_matte.####.exr"),
                              _info(str(tmp_path / "v1" / "plate.####.exr"))) is None
