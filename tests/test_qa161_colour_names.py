"""A colourspace name the config does not know (QA161). The error listed the config's first names --
its display colourspaces -- whenever the name differed from a real one by case ("acescg_nope" got
"sRGB - Display, Gamma 2.2 Rec.709 - Display, ..." and never ACEScg), and it never offered roles or
aliases ("compositing_linear" was not pointed to "scene_linear"). A name pasted with a trailing space
("ACEScg ") was refused though OCIO matches names without regard to case. Tiny synthetic plate."""
import json

import numpy as np
import pytest

from samatte.colour import ColourTransform
from samatte.errors import ColourError


@pytest.mark.parametrize("name, expected", [
    ("acescg_nope", "ACEScg"),                    # another case: still ACEScg first
    ("acescg", None),                             # found: OCIO looks names up without regard to case
    ("compositing_linear", "scene_linear"),       # a role of other configs: this one's role
    ("linear rec709", "Linear Rec.709 (sRGB)"),
])
def test_unknown_colourspace_names_its_near_matches(name, expected):
    if expected is None:
        assert ColourTransform("ocio://default", name).colourspace == "ACEScg"
        return
    with pytest.raises(ColourError) as ei:
        ColourTransform("ocio://default", name)
    msg = str(ei.value)
    assert ei.value.code == "COLOUR_INVALID"
    near = msg.split("valid names include: ", 1)[1].split(", ")
    assert expected in near[:3], msg
    assert not any(n.endswith(" - Display") for n in near[:3]), msg


def test_surrounding_spaces_are_not_part_of_the_name():
    ct = ColourTransform("ocio://default", " Linear Rec.709 (sRGB) ")
    assert ct.colourspace == "Linear Rec.709 (sRGB)" and ct.colourspace_from == "job"
    with pytest.raises(ColourError):
        ColourTransform("ocio://default", "   ")  # only spaces: no colourspace, not scene_linear silently


def test_cli_run_unknown_colourspace_writes_nothing(tmp_path, capsys):
    import OpenImageIO as oiio

    from samatte import cli, jobspec
    from samatte.io.exr import write_image
    px = np.full((8, 10, 3), 0.18, np.float32)
    spec = oiio.ImageSpec(10, 8, 3, oiio.HALF)
    out = oiio.ImageOutput.create(str(tmp_path / "p.1001.exr"))
    assert out.open(str(tmp_path / "p.1001.exr"), spec)
    assert out.write_image(px)
    out.close()
    write_image(str(tmp_path / "m.1001.png"), np.ones((8, 10), np.float32), channels=["Y"], pixel_type="uint8")
    job = jobspec.new_job(str(tmp_path / "p.####.exr"), str(tmp_path / "o" / "o.####.exr"), frames="1001",
                          colourspace="acescg_nope", matte="none")
    jobspec.add_object(job, "a", masks=str(tmp_path / "m.####.png"))
    (tmp_path / "j.json").write_text(json.dumps(job))
    rc = cli.main(["run", str(tmp_path / "j.json")])
    err = capsys.readouterr().err
    assert rc == 4 and "COLOUR_INVALID" in err and "ACEScg" in err.split("valid names include:")[1].split(",")[0]
    assert not list(tmp_path.glob("o/*.exr"))   # no frame written
