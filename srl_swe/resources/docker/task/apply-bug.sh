#!/usr/bin/env bash
# Apply a task's bug to /testbed and fold it into the repository's one commit.
# Usage: apply-bug.sh PATCH   (BUG_PATCH_REVERSE=1 applies PATCH in reverse: PATCH is the gold fix)
# The result is a single root commit with the env's fixed metadata and message; the previous
# commit is pruned (no reflog, no dangling object), so the fix cannot be read back from git.
# Prints the new commit hash on the last line and writes it to /srl-swe/base_commit.
set -euo pipefail
patch=${1:?usage: apply-bug.sh PATCH}
cd /testbed
export GIT_AUTHOR_NAME=srl-swe GIT_AUTHOR_EMAIL=srl-swe@localhost GIT_AUTHOR_DATE="2000-01-01T00:00:00+0000"
export GIT_COMMITTER_NAME=srl-swe GIT_COMMITTER_EMAIL=srl-swe@localhost GIT_COMMITTER_DATE="2000-01-01T00:00:00+0000"
reverse=()
[[ ${BUG_PATCH_REVERSE:-0} == 1 ]] && reverse=(--reverse)
if ! git apply --index --whitespace=nowarn "${reverse[@]}" "$patch"; then
    echo "[task] ERROR: the bug patch does not apply to the env's /testbed${reverse:+ (in reverse)}" >&2
    git apply --check --verbose "${reverse[@]}" "$patch" >&2 || true
    exit 1
fi
if git diff --cached --quiet; then
    echo "[task] ERROR: the bug patch changes nothing" >&2
    exit 1
fi
git -c commit.gpgsign=false commit --quiet --no-verify --amend --no-edit
git reflog expire --expire=now --all
git gc --quiet --prune=now
find /testbed -name __pycache__ -type d -prune -exec rm -rf {} +
if [[ -n $(git status --porcelain --untracked-files=all) ]]; then
    echo "[task] ERROR: /testbed is not clean after committing the bug:" >&2
    git status --porcelain --untracked-files=all >&2
    exit 1
fi
git rev-parse HEAD > /srl-swe/base_commit
echo "[task] ${TASK_ID:-task} base commit:"
cat /srl-swe/base_commit
