# Shared shell functions for scripts/*: source this file, do not run it.
# shellcheck shell=bash

# wait_for_port HOST PORT SECONDS [PID]: polls until HOST:PORT accepts a TCP connection. Fails
# after SECONDS, or at once if process PID (when given) has exited.
wait_for_port() {
  local host=$1 port=$2 seconds=$3 pid=${4:-}
  local deadline=$((SECONDS + seconds))
  while ((SECONDS < deadline)); do
    if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
      return 0
    fi
    if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
      echo "process $pid exited before listening on $host:$port" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "nothing listens on $host:$port after ${seconds}s" >&2
  return 1
}

# stop_pidfile FILE NAME: stops the process whose PID is in FILE, if it is still running and its
# command line mentions NAME (a recycled PID must not take down someone else's process). Never
# stops anything by name alone: other Dovecots may run on this machine.
stop_pidfile() {
  local file=$1 name=$2 pid
  [[ -s $file ]] || return 0
  pid=$(<"$file")
  if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null &&
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$name"; then
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 15))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$file"
}

# make_cert DIR: a self-signed ECDSA P-256 certificate for localhost (SAN DNS:localhost,
# IP:127.0.0.1) as DIR/cert.pem and DIR/key.pem.
make_cert() {
  local dir=$1
  openssl req -x509 -nodes -days 30 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
    -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
  chmod 0600 "$dir/key.pem"
}

# source_files REPO: the files a build of REPO sees, NUL-separated: tracked and new ones as git
# sees them, without ignored ones (build trees) or .git.
source_files() {
  (
    cd "$1"
    git ls-files -z --cached --others --exclude-standard |
      while IFS= read -r -d '' f; do
        [[ $f == build*/* ]] && continue
        [[ -e $f || -L $f ]] && printf '%s\0' "$f"
      done
  )
}

# copy_source REPO DEST: those files into DEST, owned by root.
copy_source() {
  mkdir -p "$2"
  source_files "$1" | (cd "$1" && tar --null -T - -cf -) | tar -C "$2" -xf -
  chown -R root:root "$2"
}

# source_hash REPO: 16 hex digits over those files' names and contents: a cache key for what is
# built from them.
source_hash() {
  source_files "$1" | (cd "$1" && xargs -0 sha256sum --) | sha256sum | cut -c1-16
}
