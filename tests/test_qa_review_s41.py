"""Review of a day's changes (s41): neighbouring cases the day's fixes did not try.

* ``SAMATTE_LOG_LEVEL`` was checked against a list of six names (DEBUG, INFO, WARNING, WARN, ERROR, CRITICAL):
  ``fatal`` and ``notset``, logging's own names which the CLI and the worker took before (``getattr(logging,
  ...)``), became "not a level" with a warning and the default level.
"""
import logging
import subprocess
import sys

import pytest



@pytest.mark.parametrize("value,level", [("fatal", logging.CRITICAL), ("FATAL", logging.CRITICAL),
                                         ("notset", logging.NOTSET), ("critical", logging.CRITICAL),
                                         ("warn", logging.WARNING), ("Debug", logging.DEBUG), ("15", 15)])
def test_every_name_logging_knows_is_a_level_without_a_warning(value, level):
    from samatte.cli import log_level
    assert log_level(value) == (level, None)
    assert log_level(value, logging.INFO) == (level, None)


@pytest.mark.parametrize("value", ["verbose", "trace", "BASIC_FORMAT", "Level 5", "root"])
def test_what_is_no_level_is_still_the_default_with_a_warning(value):
    from samatte.cli import log_level
    level, problem = log_level(value, logging.INFO)
    assert level == logging.INFO and problem and repr(value) in problem


def test_the_cli_at_fatal_is_quiet_and_says_nothing_of_its_level(tmp_path):
    """``SAMATTE_LOG_LEVEL=fatal samatte ...``: no 'is not a level' warning on stderr (it was one, at WARNING)."""
    import os
    env = dict(os.environ, SAMATTE_LOG_LEVEL="fatal", PYTHONPATH=os.pathsep.join(sys.path))
    p = subprocess.run([sys.executable, "-m", "samatte", "validate", str(tmp_path / "none.json")],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode != 0            # (no such file: an error, which is printed whatever the level)
    assert "not a level" not in p.stderr, p.stderr
