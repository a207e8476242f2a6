"""An OCIO config that cannot be loaded (QA161): a folder given as the config (a studio's config
folder, as many set $OCIO) was reported as "OCIO config file not found: /show/ocio", though it is
there; and a bad config that came from $OCIO (the job names none) did not say so, sending the artist
to look in the job. Both are COLOUR_INVALID before any frame."""
import pytest

from samatte.colour import ColourTransform
from samatte.errors import ColourError


def test_a_folder_is_named_as_a_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("OCIO", raising=False)
    with pytest.raises(ColourError) as ei:
        ColourTransform(str(tmp_path))
    assert ei.value.code == "COLOUR_INVALID"
    assert "is a folder" in str(ei.value) and "not found" not in str(ei.value)
    assert "$OCIO" not in str(ei.value)


@pytest.mark.parametrize("kind", ["missing", "broken", "folder"])
def test_a_bad_config_from_ocio_env_says_so(tmp_path, monkeypatch, kind):
    path = tmp_path / "config.ocio"
    if kind == "broken":
        path.write_text("not: [an ocio config\n")
    elif kind == "folder":
        path = tmp_path
    monkeypatch.setenv("OCIO", str(path))
    with pytest.raises(ColourError) as ei:
        ColourTransform(None, "ACEScg")
    assert ei.value.code == "COLOUR_INVALID"
    assert "$OCIO" in str(ei.value) and str(path) in str(ei.value)
    # named by the job: the message does not blame $OCIO
    monkeypatch.setenv("OCIO", "ocio://default")
    with pytest.raises(ColourError) as ei:
        ColourTransform(str(path), "ACEScg")
    assert "$OCIO" not in str(ei.value)
