"""The SAMatte panel (Qt, PySide2 and PySide6): the node's objects and their prompt frames, the job's
progress, and the per-frame score strip (green good, amber doubtful, red under 0.5, grey not made).

It holds no state of its own beyond what the node tells it: :meth:`SamattePanel.load` from a node's
gathered objects and stored scores, :meth:`SamattePanel.on_event` from the runner's events (called in
the main thread through ``samatte_nuke.node.LISTENERS``).
"""
from .convert import absent_text
from .qt_compat import QtCore, QtGui, QtWidgets, Qt

__all__ = ["ScoreStrip", "SamattePanel", "score_colour", "show_for"]

LOW = 0.5
DOUBT = 0.75


def score_colour(score):
    """(r, g, b) for a frame's score (None: not made)."""
    if score is None:
        return (90, 90, 90)
    if score < LOW:
        return (200, 60, 50)
    if score < DOUBT:
        return (220, 170, 40)
    return (70, 170, 80)


class ScoreStrip(QtWidgets.QWidget):
    """One bar per frame; its height is the score. Click a bar: ``frameClicked(frame)``. Frames are
    file frames; ``offset`` (script = file + offset) is what the tooltip adds for the artist."""

    frameClicked = QtCore.Signal(int)

    def __init__(self, parent=None):
        QtWidgets.QWidget.__init__(self, parent)
        self.frames = []
        self.scores = {}
        self.offset = 0
        self.setMinimumHeight(28)
        self.setMouseTracking(True)

    def set_data(self, frames, scores):
        self.frames = list(frames)
        self.scores = {int(k): float(v) for k, v in (scores or {}).items() if v is not None}
        self.update()

    def set_score(self, frame, score):
        if score is None:   # a frame with no score
            return
        self.scores[int(frame)] = float(score)
        self.update()

    def frame_at(self, x):
        if not self.frames:
            return None
        i = int(x * len(self.frames) / max(1, self.width()))
        return self.frames[min(max(i, 0), len(self.frames) - 1)]

    def low_frames(self):
        return [f for f in self.frames if self.scores.get(f) is not None and self.scores[f] < LOW]

    def paintEvent(self, event):
        p = QtGui.QPainter(self)
        try:
            w, h = self.width(), self.height()
            p.fillRect(0, 0, w, h, QtGui.QColor(30, 30, 30))
            n = len(self.frames)
            for i, f in enumerate(self.frames):
                x0 = int(i * w / n)
                x1 = int((i + 1) * w / n)
                s = self.scores.get(f)
                bar = h if s is None else max(2, int(h * max(0.0, min(1.0, s))))
                p.fillRect(x0, h - bar, max(1, x1 - x0 - 1), bar, QtGui.QColor(*score_colour(s)))
        finally:
            p.end()

    def mousePressEvent(self, event):
        pos = event.position().x() if hasattr(event, "position") else event.x()
        f = self.frame_at(pos)
        if f is not None:
            self.frameClicked.emit(int(f))

    def mouseMoveEvent(self, event):
        pos = event.position().x() if hasattr(event, "position") else event.x()
        f = self.frame_at(pos)
        if f is not None:
            s = self.scores.get(f)
            self.setToolTip("frame %d: %s" % (f + self.offset, "not made" if s is None else "score %.2f" % s))


class SamattePanel(QtWidgets.QWidget):
    """Objects table, progress bar, score strip and the node's main buttons."""

    def __init__(self, node_name=None, parent=None):
        QtWidgets.QWidget.__init__(self, parent)
        self.node_name = node_name
        self.node_uid = None   # the node's samatte_uid (see bind): a renamed node keeps its panel
        self.offset = 0
        lay = QtWidgets.QVBoxLayout(self)
        self.title = QtWidgets.QLabel("SAMatte")
        self.status = QtWidgets.QLabel("")
        self.status.setWordWrap(True)
        for label in (self.title, self.status):   # names and messages hold '<' (paths, '<module>'): not HTML
            label.setTextFormat(Qt.PlainText)
        self.table = QtWidgets.QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["object", "host name", "prompts", "frames"])
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setRange(0, 100)
        self.strip = ScoreStrip()
        row = QtWidgets.QHBoxLayout()
        self.buttons = {}
        for key, label in (("track", "Track && Matte"), ("matte_frame", "Matte this frame"), ("cancel", "Cancel")):
            b = QtWidgets.QPushButton(label.replace("&&", "&&"))
            b.clicked.connect(lambda checked=False, k=key: self._press(k))
            row.addWidget(b)
            self.buttons[key] = b
        for w in (self.title, self.status, self.table, self.progress, self.strip):
            lay.addWidget(w)
        lay.addLayout(row)
        self.strip.frameClicked.connect(self._goto)

    # data in ----------------------------------------------------------------------------------------
    def load(self, objects, frames, scores=None, *, offset=0, status=""):
        """``objects``: JobSpec objects (name, host_name, prompts); ``frames``: file frame numbers."""
        self.offset = int(offset)
        self.strip.offset = self.offset
        self.table.setRowCount(len(objects))
        for r, ob in enumerate(objects):
            # the script frames the artist keyed (the job's prompts are on file frames)
            fr = sorted({int(q["frame"]) + self.offset for q in ob.get("prompts", [])})
            gone = absent_text(ob, self.offset)   # (script frames where every shape of it is hidden)
            vals = [ob["name"], ob.get("host_name", ""), str(len(ob.get("prompts", []))),
                    ", ".join(str(f) for f in fr) + ("; absent %s" % gone if gone else "")]
            for c, v in enumerate(vals):
                item = QtWidgets.QTableWidgetItem(v)
                item.setFlags(Qt.ItemIsSelectable | Qt.ItemIsEnabled)
                self.table.setItem(r, c, item)
        self.strip.set_data(frames, scores or {})
        self.status.setText(status)
        self.status.setToolTip("")

    def bind(self, group):
        """Show ``group`` (a SAMatte node) and its job events from now on. The node is known by its uid:
        renamed, it keeps this panel; deleted, another node given its name does not get it."""
        self.node_name = group.fullName()
        k = group.knob("samatte_uid")
        self.node_uid = k.value() if k is not None else None
        self.reload()
        from . import node
        r = node._runner(group)
        if r is not None and r.is_alive():   # opened while a job runs: where it is, its scores so far
            for f, s in dict(getattr(r, "scores", None) or {}).items():
                self.strip.set_score(f, s)
            if getattr(r, "last_progress", None):
                self.on_event(self.node_name, "progress", (r.last_progress,))

    def reload(self):
        """Load the node's stored job (objects, frames), scores and status line (after a job ends)."""
        group = self._node()
        if group is None:
            return
        from . import farm
        job = farm.stored_job(group) or {}
        frames = []
        if job:
            from samatte.frames import parse_frames
            frames = parse_frames(job["plate"]["frames"])
        try:
            scores = farm.stored_scores(group)
        except ValueError:
            scores = {}
        self.load(job.get("objects") or [], frames, scores, offset=group["samatte_offset"].value(),
                  status=group["status"].value())

    def _mine(self, name):
        """Whether a job event for the node now called ``name`` is this panel's node's."""
        if self.node_name is None:
            return True
        group = self._node()
        if group is not None:
            return name == group.fullName()
        from .convert import script_node   # the node is gone: its own job's events still come under its last name
        return name == self.node_name and script_node(name) is None

    def on_event(self, name, kind, payload):
        if not self._mine(name):
            return
        if kind == "started":
            # the job's objects and frames from its start: its frames' bars fill in as they are made (a Track &
            # Matte's scores start afresh, as the node's; Matte this frame keeps the others')
            ev = payload[0] or {}
            scores = {} if ev.get("stage") == "all" else dict(self.strip.scores)
            self.load(ev.get("objects") or [], ev.get("frames") or [], scores, offset=ev.get("offset") or 0,
                      status="running (%s)" % (ev.get("stage") or ""))
            self.progress.setValue(0)
        elif kind == "progress":
            self.progress.setValue(int(100 * float(payload[0].get("fraction") or 0)))
            f = payload[0].get("frame")
            if payload[0].get("cancelling"):
                self.status.setText("cancelling...")
            elif payload[0].get("text"):   # the runner's words: script frames, frames done, object / phase
                self.status.setText(str(payload[0]["text"]))
            else:
                self.status.setText("%s %s" % (payload[0].get("stage") or "", "" if f is None else int(f) + self.offset))
        elif kind == "frame":
            ev = payload[0]
            if ev.get("score") is not None:
                self.strip.set_score(ev["frame"], ev["score"])
        elif kind == "done":
            self.progress.setValue(100)
            for f, s in ((payload[0] or {}).get("scores") or {}).items():
                self.strip.set_score(int(f), s)
            self.status.setText("done")
            self.reload()   # the node has stored the job (objects, frames) and its scores by now
        elif kind == "failed":
            code, message = payload
            lines = str(message or "").strip().splitlines() or [""]
            # the first line says what failed; the rest (a worker's stderr, maybe a traceback) on hover
            self.status.setText("[%s] %s%s" % (code, lines[0], " ..." if len(lines) > 1 else ""))
            self.status.setToolTip("[%s] %s" % (code, message))

    # actions ----------------------------------------------------------------------------------------
    def _node(self):
        if not self.node_name:
            return None
        from . import node
        group = node._node_of(self.node_name, self.node_uid)
        if group is not None:
            self.node_name = group.fullName()
        text = "SAMatte: %s" % self.node_name   # which node this (floating) panel is for, renamed or not
        if self.title.text() != text:
            self.title.setText(text)
            self.setWindowTitle(text)
        return group

    def _press(self, key):
        n = self._node()
        if n is None:
            if self.node_name:
                self.status.setText("%s is no longer in the script" % self.node_name)
            return
        from . import node
        getattr(node, {"track": "on_track", "matte_frame": "on_matte_frame", "cancel": "on_cancel"}[key])(n)

    def _goto(self, file_frame):
        try:
            import nuke
            nuke.frame(int(file_frame) + self.offset)
        except ImportError:
            pass


_open = []


def show_for(group):
    """Open a floating panel for ``group`` and keep it fed with the node's job events."""
    from . import node
    panel = SamattePanel()
    panel.bind(group)
    listener = panel.on_event
    node.LISTENERS.append(listener)

    def forget(*_):
        # closing deletes the panel (WA_DeleteOnClose): its listener and our reference go with it
        if listener in node.LISTENERS:
            node.LISTENERS.remove(listener)
        if panel in _open:
            _open.remove(panel)
    panel.setAttribute(Qt.WA_DeleteOnClose)
    panel.destroyed.connect(forget)
    _open.append(panel)
    panel.show()
    return panel
