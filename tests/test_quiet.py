"""Library noise stays off the terminal (scenedex.quiet) and slow steps are named with their time
(scenedex.loading). The quiet mode is checked in a child process, whose descriptor 2 is really its own."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from scenedex import loading

CHILD = textwrap.dedent("""
    import logging, os, sys, warnings
    from pathlib import Path
    from tqdm import tqdm
    from scenedex.quiet import libraries_quiet

    with libraries_quiet(verbose=sys.argv[2] == "-v", log_file=Path(sys.argv[1])):
        for _ in tqdm(range(3), desc="a library's bar"):
            pass
        for _ in tqdm(range(3), desc="scenedex's own bar", disable=False):
            pass
        warnings.warn("an old library call", FutureWarning)
        logging.getLogger("somelib.models").warning("a library's warning")
        loud = logging.getLogger("loudlib")  # a library that attaches its own handler, as RapidOCR does
        loud.addHandler(logging.StreamHandler())
        loud.setLevel(logging.DEBUG)
        loud.info("a library's own handler")
        logging.getLogger("somelib").error("a library's error")
        os.write(2, b"what C++ code writes to stderr\\n")
        logging.getLogger("scenedex.demo").warning("scenedex's own warning")
        print("scenedex's own error line", file=sys.stderr)
        print("a worker's console line", file=sys.__stderr__)  # where Celery logs
    os.write(2, b"stderr is back after the command\\n")
""")
LIBRARY_LINES = ("a library's bar", "an old library call", "a library's warning", "a library's own handler",
                 "what C++ code writes to stderr")
OWN_LINES = ("scenedex's own bar", "scenedex's own warning", "scenedex's own error line", "a library's error",
             "a worker's console line", "stderr is back after the command")


def _child(log_file: Path, flag: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", CHILD, str(log_file), flag], capture_output=True, text=True,
                          timeout=120, check=True)


def test_library_output_goes_to_the_log_and_scenedex_lines_reach_the_terminal(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "scenedex.log"
    result = _child(log_file, "")
    for line in LIBRARY_LINES:
        assert line not in result.stderr + result.stdout
    for line in OWN_LINES:
        assert line in result.stderr
    logged = log_file.read_text()
    for line in ("an old library call", "a library's warning", "a library's own handler",
                 "what C++ code writes to stderr"):
        assert line in logged
    assert "scenedex's own error line" not in logged and "scenedex's own bar" not in logged


def test_verbose_shows_what_libraries_print(tmp_path: Path) -> None:
    log_file = tmp_path / "scenedex.log"
    result = _child(log_file, "-v")
    for line in (*LIBRARY_LINES, *OWN_LINES):
        assert line in result.stderr
    assert not log_file.exists()


def test_an_unwritable_log_place_still_keeps_library_output_off_the_terminal(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    result = _child(blocker / "logs" / "scenedex.log", "")
    for line in LIBRARY_LINES:
        assert line not in result.stderr
    assert "scenedex's own error line" in result.stderr


def test_a_slow_step_is_named_with_its_time(capsys: pytest.CaptureFixture[str]) -> None:
    with loading.announcing(), loading.step("loading the text model", slow_s=0.0):
        pass
    err = capsys.readouterr().err
    assert err.startswith("loading the text model… ") and err.endswith(" s\n")


def test_a_quick_step_and_a_step_outside_the_command_line_say_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with loading.announcing(), loading.step("loading the text model", slow_s=3600.0):
        pass
    with loading.step("loading the answer model", slow_s=0.0):  # not announcing: a server, a test
        pass
    assert capsys.readouterr().err == ""
