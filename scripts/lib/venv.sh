# Sourced by ./shopfleet and scripts/test: make sure .venv exists and matches pyproject.toml.
# Usage: ensure_venv "" | ensure_venv test

ensure_venv() {
  local extras="$1"
  local root venv stamp want have
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  venv="$root/.venv"
  stamp="$venv/.shopfleet-installed"
  want="$(sha256sum "$root/pyproject.toml" | cut -c1-16)"
  if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "shopfleet needs Python 3.11 or newer as python3; found: $(python3 --version 2>&1)" >&2
    return 1
  fi
  if [ ! -x "$venv/bin/python" ]; then
    echo "» creating $venv" >&2
    python3 -m venv "$venv"
  fi
  have="$(cat "$stamp" 2>/dev/null || true)"
  # "hash:test" satisfies both a plain and a test install; "hash:" only a plain one.
  if [ "$have" = "$want:test" ] || { [ -z "$extras" ] && [ "$have" = "$want:" ]; }; then
    return 0
  fi
  echo "» installing shopfleet${extras:+[$extras]} and its dependencies into .venv (first run: about a minute)" >&2
  # pip's noise about this machine's extra index locations is filtered; its errors are not.
  if ! {
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip &&
      "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        -e "$root${extras:+[$extras]}"
  } 2>&1 | { grep -v -e "is ignored: it is neither" -e "BuildBackendWarning" -e "^ *!!" -e "^ *$" >&2 || true; }; then
    echo "installing into .venv failed (see above)" >&2
    return 1
  fi
  echo "$want:$extras" > "$stamp"
}
