# samatte Nuke plugin: init.py adds paths only (it also runs in render sessions, nuke -x / -t).
import os

import nuke

_here = os.path.dirname(os.path.abspath(__file__))
nuke.pluginAddPath(os.path.join(_here, "icons"))
# samatte's standard-library modules (jobspec, client, cachekey...) live in <repo>/core.
_core = os.environ.get("SAMATTE_CORE") or os.path.join(os.path.dirname(_here), "core")
if os.path.isdir(os.path.join(_core, "samatte")):
    nuke.pluginAddPath(_core)
