#!/usr/bin/env bash
# Make /testbed a git repository with ONE commit whose hash depends only on the files
# (build step 3 of docker/env/Dockerfile): author, committer, e-mail, dates and message are fixed.
# Build outputs (egg-info, __pycache__, build/...) are kept out through .git/info/exclude, which
# is not part of the commit; the spec's git_exclude patterns are appended there.
set -euo pipefail
: "${ENV_NAME:?}"
cd /testbed
export GIT_AUTHOR_NAME=srl-swe GIT_AUTHOR_EMAIL=srl-swe@localhost GIT_AUTHOR_DATE="2000-01-01T00:00:00+0000"
export GIT_COMMITTER_NAME=srl-swe GIT_COMMITTER_EMAIL=srl-swe@localhost GIT_COMMITTER_DATE="2000-01-01T00:00:00+0000"
rm -rf .git
git init --quiet --initial-branch=main .
cat /srl-swe/build/git-exclude >> .git/info/exclude
git add --all .
git -c commit.gpgsign=false commit --quiet --no-verify -m "$ENV_NAME ${PACKAGE_VERSION:-}"
git rev-parse HEAD > /srl-swe/base_commit
echo "[commit] $ENV_NAME base commit $(cat /srl-swe/base_commit): $(git ls-files | wc -l) files"
