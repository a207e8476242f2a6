"""samatte.errors: stable codes, details, exit statuses, rebuilding from the wire."""
import json
import pickle

import pytest

from samatte import errors
from samatte.errors import (CancelledError, ERROR_CODES, EXIT_CODES, JobSpecError, PlateError,
                            ProtocolError, SamatteError, WorkerError, error_from_code)

# Codes cross the process boundary and appear in studio scripts: they must never change.
STABLE_CODES = {
    "SamatteError": "SAMATTE_ERROR", "JobSpecError": "JOBSPEC_INVALID", "FrameRangeError": "FRAME_RANGE_INVALID",
    "PromptError": "PROMPT_INVALID", "PlateError": "PLATE_INVALID", "MissingFrameError": "FRAME_MISSING",
    "CorruptFrameError": "FRAME_CORRUPT", "ChannelError": "CHANNELS_INVALID", "NaNPixelError": "PIXELS_NONFINITE",
    "ColourError": "COLOUR_INVALID", "OutputError": "OUTPUT_INVALID", "ModelError": "MODEL_ERROR",
    "WeightsMissingError": "WEIGHTS_MISSING", "WeightsCorruptError": "WEIGHTS_CORRUPT",
    "DependencyError": "DEPENDENCY_MISSING", "CancelledError": "CANCELLED", "WorkerError": "WORKER_FAILED",
    "ProtocolError": "PROTOCOL_INVALID", "TrackMissingError": "TRACK_MISSING", "BusyError": "BUSY",
    "QcError": "QC_FAILED", "OutOfMemoryError": "OUT_OF_MEMORY",
}


def test_codes_are_stable_and_unique():
    for name, code in STABLE_CODES.items():
        assert getattr(errors, name).code == code
    assert len(set(ERROR_CODES)) == len(ERROR_CODES) == len(STABLE_CODES)
    assert set(ERROR_CODES) == set(STABLE_CODES.values())
    assert set(EXIT_CODES) == set(ERROR_CODES)
    for name in errors.__all__:
        assert hasattr(errors, name)


def test_hierarchy():
    for cls in ERROR_CODES.values():
        assert issubclass(cls, SamatteError) and issubclass(cls, Exception)
    assert issubclass(errors.FrameRangeError, JobSpecError)
    assert issubclass(errors.PromptError, JobSpecError)
    assert issubclass(errors.MissingFrameError, PlateError)
    assert issubclass(errors.WeightsMissingError, errors.ModelError)
    assert issubclass(ProtocolError, WorkerError)
    # exit statuses are inherited along the hierarchy
    assert EXIT_CODES["FRAME_MISSING"] == EXIT_CODES["PLATE_INVALID"] == 3
    assert EXIT_CODES["PROTOCOL_INVALID"] == EXIT_CODES["WORKER_FAILED"] == 8
    assert EXIT_CODES["CANCELLED"] == 130 and EXIT_CODES["SAMATTE_ERROR"] == 1


def test_message_details_and_str():
    e = PlateError("cannot read frame", path="/a.1001.exr", frame=1001, skipped=None)
    assert e.message == "cannot read frame"
    assert e.details == {"path": "/a.1001.exr", "frame": 1001}  # None details are dropped
    assert str(e) == "[PLATE_INVALID] cannot read frame"
    d = e.to_dict()
    assert d == {"code": "PLATE_INVALID", "message": "cannot read frame",
                 "details": {"path": "/a.1001.exr", "frame": 1001}}
    assert json.loads(json.dumps(d)) == d
    d["details"]["frame"] = 5  # to_dict returns a copy
    assert e.details["frame"] == 1001
    assert SamatteError().message == "" and SamatteError().details == {}


@pytest.mark.parametrize("code", sorted(ERROR_CODES))
def test_error_from_code_rebuilds_the_class(code):
    e = error_from_code(code, "msg", {"frame": 3})
    assert type(e) is ERROR_CODES[code]
    assert e.code == code and e.message == "msg" and e.details == {"frame": 3}
    assert e.exit_code == EXIT_CODES[code]
    assert error_from_code(code).details == {}


def test_unknown_code_keeps_the_code():
    e = error_from_code("SOMETHING_NEW", "from a newer worker", {"x": 1})
    assert type(e) is SamatteError and e.code == "SOMETHING_NEW" and e.details == {"x": 1}
    assert SamatteError.code == "SAMATTE_ERROR"  # the class attribute is untouched
    assert str(e) == "[SOMETHING_NEW] from a newer worker"


def test_errors_can_be_raised_and_caught_by_base():
    with pytest.raises(SamatteError):
        raise CancelledError("stop")
    with pytest.raises(WorkerError):
        raise ProtocolError("bad line")


def test_errors_pickle_for_multiprocessing():
    e = errors.MissingFrameError("gone", frame=1002)
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is errors.MissingFrameError and back.message == "gone"
    assert back.details == {"frame": 1002} and str(back) == str(e)
    odd = pickle.loads(pickle.dumps(error_from_code("SOMETHING_NEW", "m", {"a": 1})))
    assert odd.code == "SOMETHING_NEW" and odd.details == {"a": 1}
