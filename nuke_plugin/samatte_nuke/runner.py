"""Background jobs: a thread per job reads the worker's events and drives a ``nuke.ProgressTask``.

Nodes and knobs are changed only through ``nuke.executeInMainThread`` (Foundry: Nuke's node graph is
not thread-safe); the ProgressTask is made and updated in the thread (Foundry's threading examples).
Workers are kept warm per samatte Python (:data:`POOL`) so the model stays loaded between jobs with
the same model and device; Release GPU ends the worker (or sends ``release`` when the worker knows it).
"""
import os
import re
import threading
import time

from samatte.errors import BusyError, CancelledError, SamatteError, WorkerError
from samatte.progress import TimeLeft

__all__ = ["WorkerPool", "POOL", "JobRunner", "check_versions", "progress_text"]


class WorkerPool(object):
    """One warm ``samatte.client.WorkerClient`` per samatte Python."""

    def __init__(self, factory=None):
        self._lock = threading.Lock()
        self._clients = {}
        self._factory = factory

    def get(self, python):
        with self._lock:
            c = self._clients.get(python)
            if c is not None and not c.alive():
                self._clients.pop(python, None)
                c = None
            if c is None:
                if self._factory is not None:
                    c = self._factory(python)
                else:
                    from samatte.client import WorkerClient
                    c = WorkerClient(python, timeout=None, startup_timeout=120)
                self._clients[python] = c
            return c

    def drop(self, python, client=None):
        """End a dead or unusable worker of ``python``. ``client``: the one a job found so (it is ended, and
        taken out of the pool only while the pool still holds it): the pool may hold a new worker by then,
        started by another node's job when this one died, which must not be ended with it (before: the first
        node's failure ended the second node's new worker, failing its job too). None: the pool's current one."""
        with self._lock:
            if client is None:
                c = self._clients.pop(python, None)
            else:
                c = client
                if self._clients.get(python) is client:
                    self._clients.pop(python, None)
        if c is not None:
            try:
                c.kill()
            except Exception:  # noqa: BLE001
                pass

    def release(self, python=None):
        """Free the GPU: ``release`` request where the worker supports it, else end the worker. A worker
        running a job is left alone (its job goes on): BusyError once the others are released."""
        with self._lock:
            items = [(p, c) for p, c in self._clients.items() if python is None or p == python]
        busy = []
        for p, c in items:
            done = False
            rel = getattr(c, "release", None)
            if rel is not None and c.alive():
                try:
                    rel()
                    done = True
                except BusyError as e:
                    busy.append(e)
                    continue
                except SamatteError:
                    done = False
            if not done:
                with self._lock:
                    self._clients.pop(p, None)
                try:
                    c.close()
                except Exception:  # noqa: BLE001
                    pass
        if busy:
            raise BusyError("Release GPU refused: a samatte job is running (cancel it first); %d other "
                            "worker(s) released" % (len(items) - len(busy)))
        return len(items)

    def close_all(self):
        with self._lock:
            items = list(self._clients.items())
            self._clients.clear()
        for _, c in items:
            try:
                c.close()
            except Exception:  # noqa: BLE001
                pass


POOL = WorkerPool()


def check_versions(client, python):
    """WorkerError (WORKER_FAILED) when the worker ``python`` started is another samatte version than the
    host modules this Nuke session imported: samatte was updated while Nuke was open (Nuke keeps the
    modules it loaded). The node's read-back checks each cached frame with the session's own cache keys,
    whose version would differ from the worker's: every frame the worker writes would show as stale, and
    Track & Matte again would reuse them and leave them stale."""
    import samatte
    theirs = (getattr(client, "hello", None) or {}).get("samatte")
    ours = getattr(samatte, "__version__", None)
    if theirs and ours and str(theirs) != str(ours):
        from . import config
        rule = config.python_rule(python)
        raise WorkerError(
            "the worker (%s%s) is samatte %s, but this Nuke session loaded samatte %s (%s), and the node checks "
            "its cached frames with the version it loaded: samatte was updated while Nuke was open (restart "
            "Nuke), or the samatte python belongs to another install than Nuke's plugin path"
            % (python, ", from %s" % rule if rule else "", theirs, ours,
               os.path.dirname(os.path.abspath(samatte.__file__))),
            worker_version=str(theirs), host_version=str(ours), **({"python_rule": rule} if rule else {}))


def _start(client, job, stage, frames):
    if stage == "all" and frames is None:
        return client.start_job(job)
    try:
        return client.start_job(job, stage=stage, frames=frames)
    except TypeError:
        raise WorkerError("this samatte client is too old for stage=%r / frames (update samatte)" % stage)


#: a worker's phase message that names the event's own frame first ("frame 1003: matte hero", "frame 1003")
_OWN_FRAME = re.compile(r"^frames? \d+(?::\s*|$)")
#: a frame number the worker's words name ("ball backward from 1101")
_NAMED_FRAME = re.compile(r"\b(frame|from) (\d+)\b")


def progress_text(ev, frame_label=None, time_left=""):
    """What Nuke's progress window says for a worker ``progress`` event: the stage, the frame as the artist
    sees it (``frame_label``: file number -> script frame), while matting the frames done of the job's, and
    what is being done (the worker's phase message: the object tracked or matted, reading, writing), its frame
    numbers as script frames too: ``matte frame 12 (11/200 done): matte hero``, ``track frame 46: hero
    backward from 101``. Before: ``matte frame 1012`` (the file number, no count, no object or phase).
    ``time_left``: :meth:`samatte.progress.TimeLeft.text` of the job, in the brackets: ``matte frame 12 (11/200
    done; 4m10s left, 1.3 s/frame): matte hero``."""
    label = frame_label or (lambda f: f)

    def shown(f):
        try:
            return label(int(f))
        except (TypeError, ValueError):
            return f
    stage = str(ev.get("stage") or "")
    frame = ev.get("frame")
    head = stage
    if frame is not None:
        head += " frame %s" % shown(frame)
    total = ev.get("total") or 0
    told = []
    if stage == "matte" and total:   # (the matte stage counts frames; the track stage counts passes' steps)
        told.append("%s/%s done" % (ev.get("done") or 0, total))
    if time_left:
        told.append(str(time_left))
    if told:
        head += " (%s)" % "; ".join(told)
    msg = str(ev.get("message") or "").strip().splitlines()
    msg = msg[0][:160] if msg else ""
    if frame is not None:
        msg = _OWN_FRAME.sub("", msg, count=1)
    msg = _NAMED_FRAME.sub(lambda m: "%s %s" % (m.group(1), shown(m.group(2))), msg)
    return head.strip() + (": " + msg if msg else "")


class JobRunner(threading.Thread):
    """Runs one job in a warm worker. ``on_event(kind, payload)`` is queued to the main thread for
    kinds ``progress`` (dict), ``frame`` (dict), ``log`` (dict: a warning or error the worker logged),
    ``done`` (result dict), ``failed`` (code, message)."""

    def __init__(self, nuke, *, title, job, python, stage="all", frames=None, on_event=None, pool=None,
                 poll_s=0.1, frame_label=None):
        threading.Thread.__init__(self, name="samatte-nuke-job", daemon=True)
        self.nuke = nuke
        self.title = title
        self.job = job
        self.python = python
        self.stage = stage
        self.frames = frames
        self.on_event = on_event
        self.pool = pool or POOL
        self.poll_s = poll_s
        self._cancel = threading.Event()
        self.outcome = None  # ("done", result) or ("failed", code, message)
        self.handle = None
        self.last_progress = None   # the last ``progress`` event's dict (a panel opened mid-job starts there)
        #: file number -> the frame the artist sees (the node's script frame) in the progress window's words
        self.frame_label = frame_label
        self._sent_cancel = False
        #: the worker client this job was given (the pool's, when it started): the one a WORKER_FAILED drops
        self.client = None
        self.written = 0   # frames this job wrote (its ``frame`` events): what a cancel or failure keeps
        #: the time left in the running stage, in the progress window's words (before: the stage and frame count only)
        self.time_left = TimeLeft()

    def cancel(self):
        self._cancel.set()

    @property
    def cancelling(self):
        """Whether this job was asked to stop (the node's Cancel, the panel's, or the progress window's)."""
        return self._cancel.is_set() or self._sent_cancel

    def _emit(self, kind, *payload):
        if self.on_event is not None:
            self.nuke.executeInMainThread(self.on_event, (kind,) + payload)

    def run(self):
        task = self.nuke.ProgressTask(self.title)
        try:
            task.setMessage("starting samatte worker")
            client = self.client = self.pool.get(self.python)
            check_versions(client, self.python)
            handle = self._start_queued(client, task)
            self.handle = handle
            while not handle.done:
                if not self._sent_cancel and (self._cancel.is_set() or task.isCancelled()):
                    handle.cancel()
                    self._sent_cancel = True
                    task.setMessage("cancelling (between frames)")
                events = handle.poll()
                for ev in events:
                    self._event(ev, task)
                if not events:
                    time.sleep(self.poll_s)
            if handle.error is not None:
                raise handle.error
            task.setProgress(100)
            self.outcome = ("done", handle.result)
            self._emit("done", handle.result)
        except SamatteError as e:
            if isinstance(e, WorkerError) and e.code == "WORKER_FAILED":
                if self.client is not None:   # a dead or unusable worker: the next job starts a fresh one
                    self.pool.drop(self.python, self.client)
            self.outcome = ("failed", e.code, e.message)
            self.error_details = dict(getattr(e, "details", None) or {})   # (frames: file numbers) read by the node
            self._emit("failed", e.code, e.message)
        except Exception as e:  # noqa: BLE001 - never let a thread die silently inside Nuke
            self.outcome = ("failed", "NUKE_ADAPTER", "%s: %s" % (type(e).__name__, e))
            self._emit("failed", "NUKE_ADAPTER", "%s: %s" % (type(e).__name__, e))
        finally:
            del task

    def _start_queued(self, client, task):
        """Start the job in the warm worker; while another node's job runs in it (one job per worker, the
        pool shares it between nodes), wait for it to end, cancellable (before: the node failed with
        ``[BUSY] this worker is already running job 'job123-1'``, naming no node, and of two nodes started
        together either one could be the one refused)."""
        waiting = False
        restarts = 0
        while True:
            if self._cancel.is_set() or task.isCancelled():
                # a Cancel pressed while the worker started (its imports take seconds on a cold machine), or while
                # another job ran in it: no job is sent (before, the job was sent and cancelled right after it,
                # once the tracker's model had been loaded)
                raise CancelledError("cancelled before the job started" if not waiting else
                                     "cancelled while waiting for another samatte job to end")
            try:
                return _start(client, self.job, self.stage, self.frames)
            except WorkerError as e:   # (BusyError included)
                if client.alive():
                    if not isinstance(e, BusyError):
                        raise
                elif e.code not in ("BUSY", "WORKER_FAILED") or restarts >= 3:
                    raise
                else:
                    # the shared worker died (killed, out of memory) before this job was sent, maybe under another
                    # node's job this one waited behind: that job fails with the death, this one goes to the
                    # pool's new worker (before: it failed too, BUSY or "the samatte worker is not running")
                    restarts += 1
            if not waiting:
                waiting = True
                task.setMessage("waiting for another samatte job to end")
                self.last_progress = {"stage": "queued", "frame": None, "fraction": 0.0,
                                      "message": "waiting for another samatte job to end"}
                self._emit("progress", self.last_progress)
            time.sleep(self.poll_s)
            # the other job's worker may have died meanwhile (and been dropped): the pool's current one
            client = self.client = self.pool.get(self.python)
            check_versions(client, self.python)

    def _event(self, ev, task):
        t = ev.get("type")
        if t == "progress":
            frac = ev.get("fraction")
            if frac is None:
                total = ev.get("total") or 0
                frac = (float(ev.get("done") or 0) / total) if total else 0.0
            task.setProgress(int(max(0.0, min(1.0, float(frac))) * 100))
            self.time_left.progress(ev.get("stage"), ev.get("done") or 0, ev.get("total") or 0)
            text = progress_text(ev, self.frame_label, self.time_left.text())
            if self._sent_cancel:
                # the frames still reported until the worker stops must not say it runs on (before: the window's
                # "cancelling (between frames)" went back to "matte frame 1012" for as long as that took)
                text = "cancelling (between frames)"
            else:
                task.setMessage(text)
            self.last_progress = {"stage": ev.get("stage"), "frame": ev.get("frame"), "fraction": frac,
                                  "message": ev.get("message"), "text": text, "cancelling": self._sent_cancel,
                                  "time_left": "" if self._sent_cancel else self.time_left.text()}
            self._emit("progress", self.last_progress)
        elif t == "log" and ev.get("level") in ("warning", "error"):
            msg = str(ev.get("message") or "")
            if len(msg) > 4000:   # (a record of megabytes: the Script Editor and the status line get its start)
                msg = "%s ... [%d characters left out]" % (msg[:4000], len(msg) - 4000)
            self._emit("log", {"level": ev.get("level"), "message": msg})
        elif t == "frame":
            self.time_left.frame(ev.get("status"), ev.get("stage", "matte"))
            if ev.get("status") == "written" and ev.get("stage", "matte") == "matte":
                self.written += 1
            self._emit("frame", {"frame": ev.get("frame"), "status": ev.get("status"), "score": ev.get("score"),
                                 "path": ev.get("path")})
