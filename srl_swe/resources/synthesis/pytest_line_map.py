"""pytest plugin, run inside a synthesis sandbox: which lines each test executes (coverage.py).

Loaded with ``-p pytest_line_map`` (PYTHONPATH holds this folder and a copy of coverage.py).
Measuring starts when pytest imports the plugin, before any conftest imports the library, so
lines that run at import or collection land in the empty context; each test's setup, call and
teardown run in a context named by its node id. The data file is ``$SRL_SWE_LINE_MAP``; each
test's seconds (setup, call and teardown, measured under coverage) go to ``$SRL_SWE_LINE_MAP.seconds.json``.
The project's own coverage configuration is not read (python-slugify's names a `source` that is never imported),
and coverage's warnings are not the suite's: under a project's `filterwarnings = error` they would end the run.
"""
import json
import os
import time
import warnings

import coverage
import pytest

_coverage = coverage.Coverage(data_file=os.environ["SRL_SWE_LINE_MAP"], include=[os.getcwd() + "/*"], config_file=False)
_coverage.start()
_seconds = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _coverage.switch_context(item.nodeid)
    start = time.perf_counter()
    yield
    _seconds[item.nodeid] = time.perf_counter() - start
    _coverage.switch_context("")


def pytest_unconfigure(config):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", coverage.exceptions.CoverageWarning)
        _coverage.stop()
        _coverage.save()
    with open(os.environ["SRL_SWE_LINE_MAP"] + ".seconds.json", "w") as out:
        json.dump(_seconds, out)
