"""Helpers the QA tests share: run the command line in this process, read an EXR back."""
from samatte import cli


def run_cli(argv, capsys):
    """(exit status, stderr) of ``samatte ARGV`` run in this process; never a traceback / exit 1."""
    rc = cli.main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err and "unexpected error" not in err, err
    return rc, err


def read_exr(path):
    """(channel names, float pixels (H, W, C), OIIO spec) of an image file."""
    import OpenImageIO as oiio
    inp = oiio.ImageInput.open(str(path))
    try:
        spec = inp.spec()
        return list(spec.channelnames), inp.read_image("float"), spec
    finally:
        inp.close()
