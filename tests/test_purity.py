"""The core imports neither textual nor rich (checked in a fresh interpreter)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_core_does_not_load_textual_or_rich():
    code = (
        "import sys\n"
        "import bpstep.core.engine, bpstep.core.report, bpstep.core.scenario, bpstep.core.values\n"
        "import bpstep.core, pkgutil, importlib\n"
        "for m in pkgutil.iter_modules(bpstep.core.__path__):\n"
        "    importlib.import_module('bpstep.core.' + m.name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))\n"
        "print(','.join(bad))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


def test_run_command_does_not_load_textual():
    code = (
        "import sys, io, contextlib\n"
        "from bpstep.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['run', 'scenarios/complex.yaml'])\n"
        "print('textual' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)
    assert proc.stdout.strip() == "False", proc.stderr


def test_the_command_line_is_built_before_numpy_is_imported():
    """numpy takes about 60 ms to import; while bpstep.cli imported it at module level, a ctrl+c
    then was a traceback instead of main()'s exit 130. The flags need only bpstep.core.limits."""
    code = "import sys, bpstep.cli\nprint(sorted(m for m in sys.modules if m.split('.')[0] == 'numpy'))\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr
