# Debootstrapped Debian chroots for scripts/trixie and scripts/deb: source this file, do not run
# it. The caller sets `stage` (a log prefix) and `cache` (where trees are kept), and calls
# chroot_begin before anything else; every exit path then unmounts what was mounted, stops what
# ran inside, removes cleanup_paths and prints the step timings.
# shellcheck shell=bash

# The mirror apt uses on this host, so the chroots work wherever the host's apt does.
chroot_mirror=${POPGATE_MIRROR:-$(
  sed -n 's/^URIs:[[:space:]]*\(http[^[:space:]]*\/debian\)\/*$/\1/p' \
    /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1
)}
chroot_mirror=${chroot_mirror:-http://deb.debian.org/debian}

# --- step timings --------------------------------------------------------------------------
declare -a timings=()
step_start=0
step_name=""
step() {
  step_name=$1
  step_start=$(date +%s.%N)
  echo "$stage: == $step_name"
}
step_done() {
  local secs
  secs=$(awk -v a="$step_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  timings+=("$(printf '%-30s %7ss' "$step_name" "$secs")")
  echo "$stage: $step_name took ${secs}s"
  step_name=""
}
print_timings() { # on stderr: stdout may be a result (scripts/trixie --base-only prints a path)
  ((${#timings[@]} > 0)) || return 0
  echo "$stage: timings" >&2
  printf '  %s\n' "${timings[@]}" >&2
}

# --- mounts and processes ------------------------------------------------------------------
mounts_under() { awk -v p="$1/" 'index($2, p) == 1 { print $2 }' /proc/mounts | sort -r; }
mounted=()
cleanup_paths=()
active_root=""
kill_chroot_processes() {
  # Processes whose root is this chroot (dovecot, popgate, a stray test): found by /proc/PID/root,
  # so nothing outside the chroot is touched; stopped by PID.
  local target=$1 signal pid pids
  for signal in TERM KILL; do
    pids=()
    for pid in /proc/[0-9]*; do
      [[ $(readlink "$pid/root" 2>/dev/null) == "$target" ]] && pids+=("${pid#/proc/}")
    done
    ((${#pids[@]} > 0)) || return 0
    echo "$stage: stopping leftover chroot processes (SIG$signal): ${pids[*]}" >&2
    kill "-$signal" "${pids[@]}" 2>/dev/null || true
    sleep 1
  done
}
unmount_all() {
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
    umount "${mounted[i]}" 2>/dev/null || umount -l "${mounted[i]}" 2>/dev/null || true
  done
  mounted=()
}
chroot_cleanup() {
  local status=$?
  trap - EXIT INT TERM
  [[ -z $active_root ]] || kill_chroot_processes "$active_root"
  unmount_all
  if [[ -z $(mounts_under "$cache") ]] && ((${#cleanup_paths[@]} > 0)); then
    rm -rf --one-file-system "${cleanup_paths[@]}"
  fi
  [[ -z $step_name ]] || step_done
  print_timings
  exit "$status"
}
mount_bind() { # mount_bind SRC DST
  mount --bind "$1" "$2"
  mounted+=("$2")
}
mount_kernel_fs() { # mount_kernel_fs ROOT: /proc, /sys, /dev, /dev/pts, /dev/shm for a chroot
  local r=$1
  mount -t proc proc "$r/proc" && mounted+=("$r/proc")
  mount -t sysfs sysfs "$r/sys" && mounted+=("$r/sys")
  mount_bind /dev "$r/dev"
  # On a host with shared mounts, what is mounted below would otherwise show up on its /dev too.
  mount --make-rslave "$r/dev"
  mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$r/dev/pts" && mounted+=("$r/dev/pts")
  mount -t tmpfs -o mode=1777 shm "$r/dev/shm" && mounted+=("$r/dev/shm")
}
mount_overlay() { # mount_overlay LOWER RUN: a throw-away RUN/root over LOWER (RUN is emptied)
  local lower=$1 run=$2
  rm -rf --one-file-system "$run"
  mkdir -p "$run/upper" "$run/work" "$run/root"
  mount -t overlay overlay -o "lowerdir=$lower,upperdir=$run/upper,workdir=$run/work" "$run/root"
  mounted+=("$run/root")
}
in_chroot() { # in_chroot ROOT CMD...: a clean environment, no host variables leak in
  local r=$1
  shift
  chroot "$r" /usr/bin/env -i HOME=/root TERM="${TERM:-dumb}" LANG=C.UTF-8 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    DEBIAN_FRONTEND=noninteractive "$@"
}
forbid_services() { # forbid_services ROOT: no package may start a daemon in the chroot
  # It would outlive the script and hold host ports.
  printf '#!/bin/sh\nexit 101\n' >"$1/usr/sbin/policy-rc.d"
  chmod 0755 "$1/usr/sbin/policy-rc.d"
}

# chroot_begin: traps, the lock every chroot script shares (each unmounts stale mounts under
# $cache, which would pull the chroot from under another run), and that stale-mount cleanup.
chroot_begin() {
  trap chroot_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  mkdir -p "$cache"
  exec 9>"$cache/.lock"
  flock -n 9 || {
    echo "$stage: waiting for another run to finish ($cache/.lock)" >&2
    flock 9
  }
  # A previous run killed hard (SIGKILL, power loss) may have left its mounts: drop them first.
  local m
  for m in $(mounts_under "$cache"); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  # rm -rf must never walk into a bind-mounted /dev or a mounted /proc.
  if [[ -n $(mounts_under "$cache") ]]; then
    echo "$stage: cannot unmount $(mounts_under "$cache" | tr '\n' ' '); not touching $cache" >&2
    exit 1
  fi
}

# chroot_base SUITE: $cache/SUITE-base, debootstrap --variant=minbase, made once and reused.
chroot_base() {
  local suite=$1 base=$cache/$1-base tmp
  if [[ -x $base/bin/sh ]]; then
    echo "$stage: using cached $base"
    return 0
  fi
  step "debootstrap $suite"
  command -v debootstrap >/dev/null || apt-get install -y -qq --no-install-recommends debootstrap
  tmp=$base.tmp
  rm -rf "$tmp"
  cleanup_paths+=("$tmp")
  debootstrap --variant=minbase "$suite" "$tmp" "$chroot_mirror"
  rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/*
  mv "$tmp" "$base"
  step_done
}
