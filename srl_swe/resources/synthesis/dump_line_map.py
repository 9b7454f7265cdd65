"""Turn a line map's coverage data into compact JSON: {"tests": [node ids], "files": {path: {line: [test index]}},
"seconds": [seconds of each test]}.

Index -1 stands for the empty context (import and collection time). Paths are relative to the
current directory (/testbed). Usage: python dump_line_map.py DATA_FILE OUT_JSON
"""
import json
import os
import sys

import coverage

data = coverage.CoverageData(basename=sys.argv[1])
data.read()
root = os.getcwd().rstrip("/") + "/"
tests: dict[str, int] = {}
files: dict[str, dict[int, list[int]]] = {}
for path in data.measured_files():
    lines = {}
    for line, contexts in (data.contexts_by_lineno(path) or {}).items():
        lines[line] = sorted(tests.setdefault(c, len(tests)) if c else -1 for c in contexts)
    files[path[len(root):] if path.startswith(root) else path] = lines
with open(sys.argv[1] + ".seconds.json") as timings:
    seconds = json.load(timings)
names = sorted(tests, key=tests.get)
with open(sys.argv[2], "w") as out:
    json.dump({"tests": names, "files": files, "seconds": [round(seconds.get(name, 0.0), 4) for name in names]}, out)
