"""Scoring patches against SWE-bench 5.x rows with the swebench package's own grading."""
