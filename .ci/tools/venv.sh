# Sourced by the steps that run Python: `ensure_venv <dir>` makes a virtual
# environment there unless one exists, installing python3-venv first when
# the machine's Python lacks it (a fresh Debian image does).
ensure_venv() {
    local venv=$1
    [ -x "$venv/bin/python" ] && return 0
    if ! python3 -m venv "$venv"; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
        python3 -m venv "$venv"
    fi
}
