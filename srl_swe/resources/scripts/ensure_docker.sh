#!/usr/bin/env bash
# Make sure a Docker daemon answers and the offline base image srl-swe/base:bookworm exists.
#
# Idempotent; safe to run before every `make test`. On a fresh Debian machine (root, only the
# docker CLI present, no image registry reachable) it:
#   1. installs the engine (`docker.io`: dockerd, containerd, runc, tini) if dockerd is missing,
#   2. starts dockerd in the background (log: $SRL_SWE_DOCKERD_LOG) and waits until it answers; its
#      data root is a btrfs file system in a sparse, loop-mounted file, so that the sandboxes' disk
#      limit (`--storage-opt size`, btrfs simple quotas) holds: overlay2 on ext4 cannot limit a
#      container's disk, and this kernel family has no XFS quotas. Where that cannot be set up
#      (no loop devices, no btrfs), the daemon keeps its usual data root and only the sandboxes'
#      per-file limit holds (they warn once),
#   3. builds srl-swe/base:bookworm: a registry image if one answers quickly, otherwise a
#      debootstrap'ed Debian rootfs imported as srl-swe/rootfs:bookworm, then docker/base/Dockerfile.
# Build logs go to $SRL_SWE_DOCKER_LOGS (default: the srl-swe cache's docker-logs/).
#
# Environment knobs:
#   SRL_SWE_BASE_IMAGE      tag to ensure (default srl-swe/base:bookworm)
#   SRL_SWE_DOCKERD_LOG     dockerd log file (default /var/log/srl-swe-dockerd.log)
#   SRL_SWE_DOCKER_WAIT     seconds to wait for the daemon (default 60)
#   SRL_SWE_DOCKER_QUOTA=0  start dockerd on its usual data root (overlay2, no per-container disk limit)
#   SRL_SWE_DOCKER_STORE    folder of the btrfs data root and its backing file (default /var/lib/srl-swe-docker)
#   SRL_SWE_DOCKER_STORE_GB size cap of the sparse backing file (default: the free space beside it, less 5 GB)
#   SRL_SWE_DEBIAN_MIRROR   Debian mirror for debootstrap (default: the one apt already uses)
#   SRL_SWE_REBUILD_BASE=1  rebuild the base image even if it is up to date
# The base image is rebuilt by itself when docker/base/Dockerfile or the host CA bundle change
# (their hash is stored in the image's label srl-swe.base-hash).
set -euo pipefail
cd "$(dirname "$0")/.."   # the package's resources/ folder (docker/base/ is beside this script's folder)

BASE_IMAGE=${SRL_SWE_BASE_IMAGE:-srl-swe/base:bookworm}
ROOTFS_IMAGE=srl-swe/rootfs:bookworm
DOCKERD_LOG=${SRL_SWE_DOCKERD_LOG:-/var/log/srl-swe-dockerd.log}
WAIT_S=${SRL_SWE_DOCKER_WAIT:-60}
LOG_DIR=${SRL_SWE_DOCKER_LOGS:-${SRL_SWE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/srl-swe}/docker-logs}
mkdir -p "$LOG_DIR"
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt

TMP_DIRS=()
APT_UPDATED=0
trap 'if ((${#TMP_DIRS[@]})); then rm -rf "${TMP_DIRS[@]}"; fi' EXIT

log() { echo "[ensure_docker] $*" >&2; }
die() { echo "[ensure_docker] ERROR: $*" >&2; exit 1; }

as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        die "need root to run: $* (run this script as root)"
    fi
}

apt_install() {
    if ((APT_UPDATED == 0)); then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq
        APT_UPDATED=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 \
        install -y -qq --no-install-recommends "$@"
}

daemon_up() { docker info >/dev/null 2>&1; }

STORE=${SRL_SWE_DOCKER_STORE:-/var/lib/srl-swe-docker}

# Mount (creating it once) the btrfs file system that holds the daemon's data; print dockerd's
# storage flags. Any failure leaves the usual overlay2 root: the limit is a guard, not a prerequisite.
quota_storage_flags() {
    local fallback="--storage-driver=overlay2" image=$STORE/btrfs.img root=$STORE/root fresh=0
    if [[ ${SRL_SWE_DOCKER_QUOTA:-1} == 0 || $(id -u) -ne 0 ]]; then
        echo "$fallback"
        return
    fi
    if ! mountpoint -q "$root"; then
        if ! grep -qw btrfs /proc/filesystems; then
            log "this kernel has no btrfs: containers get no disk limit (only the per-file limit)"
            echo "$fallback"
            return
        fi
        command -v mkfs.btrfs >/dev/null || { log "installing btrfs-progs"; apt_install btrfs-progs >&2; }
        mkdir -p "$root"
        if [[ ! -s $image ]]; then
            local free_gb
            free_gb=$(df -BG --output=avail "$STORE" | tail -n1 | tr -dc 0-9)
            local size_gb=${SRL_SWE_DOCKER_STORE_GB:-$((free_gb > 15 ? free_gb - 5 : 10))}
            log "creating the daemon's btrfs data root: sparse ${size_gb} GB file $image"
            fresh=1
            truncate -s "${size_gb}G" "$image" && mkfs.btrfs -q -f "$image" >"$LOG_DIR/mkfs-btrfs.log" 2>&1 || {
                rm -f "$image"
                log "mkfs.btrfs failed (see $LOG_DIR/mkfs-btrfs.log): containers get no disk limit (only the per-file limit)"
                echo "$fallback"
                return
            }
        fi
        # discard=async gives the blocks of removed images and containers back to the host's disk.
        if ! mount -o loop,discard=async "$image" "$root" >&2; then
            log "could not loop-mount $image: containers get no disk limit (only the per-file limit)"
            echo "$fallback"
            return
        fi
        # Simple quotas (Linux 6.7+): classic quota groups turn inconsistent when a container's
        # subvolume is deleted, and then stop enforcing any limit. Enabled once, on the empty file
        # system, by the BTRFS_IOC_QUOTA_CTL ioctl (Debian's btrfs-progs predates the option).
        if ! python3 -c 'import fcntl, os, struct, sys
fcntl.ioctl(os.open(sys.argv[1], os.O_RDONLY), 0xC0109428, bytearray(struct.pack("QQ", 4, 0)))' "$root" >&2; then
            umount "$root"
            if ((fresh)); then rm -f "$image"; fi
            log "this kernel has no btrfs simple quotas: containers get no disk limit (only the per-file limit)"
            echo "$fallback"
            return
        fi
    fi
    echo "--storage-driver=btrfs --data-root=$root"
}

# ---------------------------------------------------------------------------- 1. engine
ensure_daemon() {
    if daemon_up; then
        return 0
    fi
    if ! command -v dockerd >/dev/null; then
        log "no dockerd: installing the engine (apt-get install docker.io)"
        # docker.io brings dockerd, containerd, runc and tini (docker-init, used by init=True).
        # Its own /usr/bin/docker CLI is shadowed by an existing /usr/local/bin/docker.
        apt_install docker.io iptables
    fi
    command -v docker >/dev/null || die "no docker CLI on PATH"
    if command -v pgrep >/dev/null && pgrep -x dockerd >/dev/null; then
        log "dockerd is already running; waiting for it to answer"
    else
        local storage
        storage=$(quota_storage_flags)
        log "starting dockerd $storage (log: $DOCKERD_LOG)"
        as_root mkdir -p "$(dirname "$DOCKERD_LOG")"
        # setsid + nohup: the daemon outlives this script and the CI step that ran it; started from / so that
        # removing the checkout that ran this script leaves it (and the processes it spawns) a working directory.
        # shellcheck disable=SC2086 # $storage holds several flags
        (cd / && as_root setsid nohup dockerd $storage) >>"$DOCKERD_LOG" 2>&1 </dev/null &
    fi
    local waited=0
    until daemon_up; do
        if ((waited >= WAIT_S)); then
            echo "----- last lines of $DOCKERD_LOG -----" >&2
            tail -n 30 "$DOCKERD_LOG" >&2 || true
            die "dockerd did not answer 'docker info' within ${WAIT_S}s"
        fi
        sleep 1
        waited=$((waited + 1))
    done
    log "docker daemon ready after ${waited}s ($(docker version --format '{{.Server.Version}}'))"
}

# ---------------------------------------------------------------------------- 2. base image
image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

debian_mirror() {
    if [[ -n ${SRL_SWE_DEBIAN_MIRROR:-} ]]; then
        echo "$SRL_SWE_DEBIAN_MIRROR"
        return
    fi
    # deb822 (*.sources: "URIs: ...") or one-line ("deb URI bookworm main") formats.
    local files=(/etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list)
    local uri
    uri=$(cat "${files[@]}" 2>/dev/null |
        awk '/^URIs:/ {for (i = 2; i <= NF; i++) print $i}
             /^deb[ \t]/ {for (i = 2; i <= NF; i++) if ($i !~ /^\[/) {print $i; break}}' |
        grep -E '/debian/?$' | head -n1 || true)
    echo "${uri:-http://deb.debian.org/debian}"
}

build_rootfs_image() {
    # A registry image is used only if a registry answers quickly (none does on offline CI).
    if timeout 20 docker pull -q debian:bookworm-slim >"$LOG_DIR/pull.log" 2>&1; then
        log "registry reachable: using debian:bookworm-slim as the rootfs"
        docker tag debian:bookworm-slim "$ROOTFS_IMAGE"
        return
    fi
    command -v debootstrap >/dev/null || { log "installing debootstrap"; apt_install debootstrap; }
    local mirror rootfs
    mirror=$(debian_mirror)
    rootfs=$(mktemp -d /tmp/srl-swe-rootfs.XXXXXX)
    TMP_DIRS+=("$rootfs")
    log "debootstrap --variant=minbase bookworm from $mirror (log: $LOG_DIR/debootstrap.log)"
    if ! as_root debootstrap --variant=minbase bookworm "$rootfs" "$mirror" \
        >"$LOG_DIR/debootstrap.log" 2>&1; then
        tail -n 30 "$LOG_DIR/debootstrap.log" >&2
        die "debootstrap failed (see $LOG_DIR/debootstrap.log)"
    fi
    # Point apt inside the image at the same mirror; drop caches to keep the layer small.
    echo "deb $mirror bookworm main" | as_root tee "$rootfs/etc/apt/sources.list" >/dev/null
    as_root rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    log "importing rootfs as $ROOTFS_IMAGE"
    as_root tar -C "$rootfs" -c . | docker import - "$ROOTFS_IMAGE" >/dev/null
    as_root rm -rf "$rootfs"
}

ensure_base_image() {
    [[ -r $CA_BUNDLE ]] || die "host CA bundle $CA_BUNDLE is missing"
    local want have
    want=$(cat docker/base/Dockerfile "$CA_BUNDLE" | sha256sum | cut -c1-16)
    have=$(docker image inspect -f '{{index .Config.Labels "srl-swe.base-hash"}}' "$BASE_IMAGE" 2>/dev/null || true)
    if [[ $have == "$want" && ${SRL_SWE_REBUILD_BASE:-0} != 1 ]]; then
        return 0
    fi
    if [[ ${SRL_SWE_REBUILD_BASE:-0} == 1 ]]; then
        log "rebuilding $BASE_IMAGE (SRL_SWE_REBUILD_BASE=1)"
    elif [[ -n $have ]]; then
        log "$BASE_IMAGE is out of date (Dockerfile or CA bundle changed): rebuilding"
    fi
    mkdir -p "$LOG_DIR"
    local t0=$SECONDS
    image_exists "$ROOTFS_IMAGE" || build_rootfs_image
    local ctx
    ctx=$(mktemp -d /tmp/srl-swe-base-ctx.XXXXXX)
    TMP_DIRS+=("$ctx")
    cp docker/base/Dockerfile "$ctx/"
    cp "$CA_BUNDLE" "$ctx/host-ca-certificates.crt"
    log "building $BASE_IMAGE (log: $LOG_DIR/base-build.log)"
    if ! DOCKER_BUILDKIT=0 docker build --build-arg "ROOTFS=$ROOTFS_IMAGE" \
        --label "srl-swe.base-hash=$want" -t "$BASE_IMAGE" "$ctx" \
        >"$LOG_DIR/base-build.log" 2>&1; then
        tail -n 30 "$LOG_DIR/base-build.log" >&2
        die "building $BASE_IMAGE failed (see $LOG_DIR/base-build.log)"
    fi
    log "built $BASE_IMAGE in $((SECONDS - t0))s ($(docker image inspect -f '{{.Size}}' "$BASE_IMAGE" |
        awk '{printf "%.0f MB", $1 / 1e6}'))"
}

ensure_daemon
ensure_base_image
