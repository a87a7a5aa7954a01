# Sourced by scripts/test: the Debian packages the simulated cluster needs (nft, ip, unshare).
# Installed with apt-get when missing and running as root; otherwise a clear error.

ensure_debian_packages() {
  local missing=() package command
  for pair in "$@"; do
    package="${pair%%:*}"
    command="${pair#*:}"
    command -v "$command" >/dev/null 2>&1 || [ -x "/usr/sbin/$command" ] || missing+=("$package")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "the simulated cluster needs these Debian packages: ${missing[*]}; install them with" \
      "'sudo apt-get install -y ${missing[*]}' (or run the tests as root)" >&2
    return 1
  fi
  echo "» installing ${missing[*]} (Debian packages the simulated cluster uses)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq "${missing[@]}" >/dev/null
}
