"""Session transcripts (DESIGN.md section 4): written while the user steps, read back later.

Modules: ``model`` (what a transcript holds), ``writer`` (TranscriptWriter), ``reader``
(read/parse, validating every line), ``replay`` (a transcript against its scenario as it is
now), ``render`` (Markdown and asciicast v2).

A transcript is JSON Lines. Line 1 is the header::

    {"type":"header","format":"bpstep-transcript","version":1,"scenario":PATH,
     "sha256":HEX,"bpstep":VERSION,"started":ISO-8601, ...}

where ``scenario`` is the scenario path exactly as the user gave it. bpstep also writes
``title``, ``output``, ``upstream``, ``cache`` (the forward cache, entries as in
``run --json``) and ``stages`` (each forward stage's code), so that a transcript can be read
without its scenario; a reader needs only the seven keys above.

Every further line is one user action::

    {"type":"action","n":1,"action":"n","t":0.52,"before":0,"after":2,"move":"forward",
     "steps":[STEP, ...]}

``n`` counts actions from 1, ``action`` is the key or palette command, ``t`` the seconds
since the session started, ``before``/``after`` the positions (steps applied) around the
action, and ``steps`` the steps it applied (``move`` "forward", in order) or undid ("back",
last applied first), each as ``bpstep run --json`` writes a step (``report.step_json``).

Lines are written with one unbuffered write each, so a session killed with ``kill -9``
leaves every completed action in the file and the file stays valid JSON Lines. Values are
written in full, as ``run --json`` writes them: a line holds every element of the arrays its
steps touch (no size bound beyond the scenario's ``--max-elements``).
"""

from bpstep.core.transcript.model import (FORMAT, VERSION, Action, CachedValue, Header, RecordedStep,
                                          Transcript, steps_between)
from bpstep.core.transcript.reader import MAX_BYTES, parse, read
from bpstep.core.transcript.replay import Replay, StepDifference, open_replay
from bpstep.core.transcript.render import asciicast, markdown
from bpstep.core.transcript.writer import TranscriptWriter

__all__ = ["FORMAT", "VERSION", "MAX_BYTES", "Action", "CachedValue", "Header", "RecordedStep", "Replay",
           "StepDifference", "Transcript", "TranscriptWriter", "asciicast", "markdown",
           "open_replay", "parse", "read", "steps_between"]
