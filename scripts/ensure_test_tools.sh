#!/usr/bin/env bash
# Debian packages that only the tests need, installed when missing (idempotent; root or sudo):
#   docker-registry  a real image registry (distribution 2.8), started on 127.0.0.1 by the tests of
#                    `srl-swe images push|pull` and of Ray units that pull what their node lacks
set -euo pipefail
missing=()
command -v docker-registry >/dev/null || missing+=(docker-registry)
if ((${#missing[@]})); then
    as_root=(); [[ $(id -u) -eq 0 ]] || as_root=(sudo)
    echo "[ensure_test_tools] installing ${missing[*]}" >&2
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 \
        install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
