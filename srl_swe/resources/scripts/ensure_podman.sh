#!/usr/bin/env bash
# Make sure Podman's Docker-compatible API answers on $SRL_SWE_PODMAN_SOCKET and holds the base image, so that
# srl-swe can run everything on Podman (SRL_SWE_CONTAINER_ENGINE=podman, or `srl-swe --container-engine podman`).
#
# Idempotent (`make podman`). On a fresh Debian machine (root) it:
#   1. installs podman and catatonit (its init process) when missing,
#   2. gives containers default limits of open files and processes no higher than this host allows
#      (/etc/containers/containers.conf.d/50-srl-swe.conf): Podman's own default, 1048576 of each, fails at
#      container start on hosts without CAP_SYS_RESOURCE; srl-swe's sandboxes set both themselves, this
#      covers the containers of the swebench harness too,
#   3. starts `podman system service` (rootful, log: $SRL_SWE_PODMAN_LOG) unless the socket answers,
#   4. copies srl-swe/base:bookworm from Docker (`docker save | podman load`; `make docker` builds it there
#      first) when Podman lacks it or holds an older one (label srl-swe.base-hash).
# Environment knobs:
#   SRL_SWE_PODMAN_SOCKET   the API socket (default /run/podman/podman.sock)
#   SRL_SWE_PODMAN_LOG      the service's log (default /var/log/srl-swe-podman.log)
set -euo pipefail
cd "$(dirname "$0")"
SOCKET=${SRL_SWE_PODMAN_SOCKET:-/run/podman/podman.sock}
LOG=${SRL_SWE_PODMAN_LOG:-/var/log/srl-swe-podman.log}
BASE_IMAGE=srl-swe/base:bookworm
CONF=/etc/containers/containers.conf.d/50-srl-swe.conf

log() { echo "[ensure_podman] $*" >&2; }
die() { echo "[ensure_podman] ERROR: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "run as root (rootful Podman, as the Docker engine srl-swe uses)"

answers() { podman --remote --url "unix://$SOCKET" version >/dev/null 2>&1; }

if ! command -v podman >/dev/null || [[ ! -x /usr/libexec/podman/catatonit ]]; then
    log "installing podman and catatonit"
    env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq
    env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends \
        podman catatonit >&2
fi

files=$(ulimit -Hn) procs=$(ulimit -Hu)
[[ $files == unlimited || $files -gt 8192 ]] && files=8192
[[ $procs == unlimited || $procs -gt 32768 ]] && procs=32768
want="[containers]
default_ulimits = [\"nofile=$files:$files\", \"nproc=$procs:$procs\"]"
restart=0
if [[ "$(cat "$CONF" 2>/dev/null)" != "$want" ]]; then
    mkdir -p "$(dirname "$CONF")"
    printf '%s\n' "$want" > "$CONF"
    log "wrote $CONF (nofile $files, nproc $procs)"
    restart=1
fi

if answers && ((restart)); then
    log "restarting the API service to read $CONF"
    pkill -f "podman system service .*unix://$SOCKET" || true
    for _ in $(seq 50); do answers || break; sleep 0.2; done
fi
if ! answers; then
    mkdir -p "$(dirname "$SOCKET")"
    log "starting podman system service on $SOCKET (log: $LOG)"
    # from /: conmon inherits the service's working directory and fails every container start ("write child:
    # broken pipe") once the checkout that ran this script is removed
    (cd / && exec nohup setsid podman system service --time=0 "unix://$SOCKET") >>"$LOG" 2>&1 </dev/null &
    for _ in $(seq 150); do answers && break; sleep 0.2; done
    answers || die "Podman's API service did not answer on $SOCKET (see $LOG)"
fi

label() { "$@" image inspect -f '{{index .Config.Labels "srl-swe.base-hash"}}' "$BASE_IMAGE" 2>/dev/null || true; }
have=$(label podman)
if [[ -z $have || $have != "$(label docker)" ]]; then
    bash ./ensure_docker.sh
    log "copying $BASE_IMAGE from Docker into Podman"
    docker save "$BASE_IMAGE" | podman load >/dev/null
fi
log "Podman answers on $SOCKET with $BASE_IMAGE"
