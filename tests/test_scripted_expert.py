"""The scripted expert's reading of gold patches and failure output (no Docker)."""
from srl_swe.agent.scripted_expert import symbols_from_failure
from srl_swe.patches import hunks

PATCH = """diff --git a/pkg/mod.py b/pkg/mod.py
--- a/pkg/mod.py
+++ b/pkg/mod.py
@@ -10,4 +10,4 @@ def total(items):
     s = 0
     for x in items:
-        s -= x
+        s += x
     return s
@@ -30,2 +30,3 @@ class Box:
     def size(self):
+        self.check()
         return self.n
"""


def test_patch_hunks_become_str_replace_edits():
    first, second = hunks(PATCH)
    assert first.path == "pkg/mod.py" and first.line == 10 and first.context == "def total(items):"
    assert first.old == "    s = 0\n    for x in items:\n        s -= x\n    return s"
    assert first.new == "    s = 0\n    for x in items:\n        s += x\n    return s"
    assert second.old == "    def size(self):\n        return self.n" and "self.check()" in second.new


def test_symbols_come_from_non_test_frames_first():
    output = "tests/test_mod.py:5: in test_total_sums\n    assert total([1, 2]) == 3\npkg/mod.py:12: in total\n"
    symbols = symbols_from_failure(output, ["tests/test_mod.py::test_total_sums"])
    assert symbols[0] == "total"
