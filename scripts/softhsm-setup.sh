#!/usr/bin/env bash
# Makes a SoftHSM2 token for noon-connect in a folder of its own (a development machine, or CI in a temporary
# folder): a SoftHSM2 config, a token with a random user PIN in a 0600 file, and the vault's master key created
# inside the token. Prints the `export` lines that point noon-connect at it:
#   eval "$(scripts/softhsm-setup.sh .data/softhsm)"
# Running it again on the same folder reuses the token and the key. Needs softhsm2 (apt-get install softhsm2).
set -euo pipefail

usage="usage: scripts/softhsm-setup.sh <dir> [--token <label>] [--key <label>] [--no-key]"
dir="${1:?$usage}"
shift
token="noon-connect"
key="noon-master-v1"
make_key=1
while [ $# -gt 0 ]; do
  case "$1" in
    --token) token="${2:?$usage}"; shift 2 ;;
    --key) key="${2:?$usage}"; shift 2 ;;
    --no-key) make_key=0; shift ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done

module=""
for candidate in "${NOON_CONNECT_PKCS11_MODULE:-}" \
  /usr/lib/softhsm/libsofthsm2.so \
  /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so \
  /usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so \
  /usr/lib64/pkcs11/libsofthsm2.so \
  /usr/local/lib/softhsm/libsofthsm2.so \
  /opt/homebrew/lib/softhsm/libsofthsm2.so; do
  if [ -n "$candidate" ] && [ -f "$candidate" ]; then module="$candidate"; break; fi
done
if [ -z "$module" ] || ! command -v softhsm2-util >/dev/null 2>&1; then
  echo "softhsm-setup: SoftHSM2 is not installed (apt-get install softhsm2)" >&2
  exit 1
fi

mkdir -p "$dir/tokens"
dir="$(cd "$dir" && pwd)"
chmod 700 "$dir"
conf="$dir/softhsm2.conf"
cat >"$conf" <<EOF
directories.tokendir = $dir/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
EOF
export SOFTHSM2_CONF="$conf"

# Random digits: a PIN that survives any shell quoting, never printed.
random_pin() {
  local s=""
  while [ "${#s}" -lt "$1" ]; do s="$s$(od -An -N4 -tu4 /dev/urandom | tr -d ' \n')"; done
  printf '%s' "${s:0:$1}"
}
umask 077
if ! softhsm2-util --show-slots 2>/dev/null | grep -Eq "Label:[[:space:]]+$token[[:space:]]*$"; then
  random_pin 16 >"$dir/so-pin"
  random_pin 12 >"$dir/pin"
  printf '\n' >>"$dir/pin"
  softhsm2-util --init-token --free --label "$token" --so-pin "$(cat "$dir/so-pin")" --pin "$(head -n1 "$dir/pin")" >/dev/null
fi

export NOON_CONNECT_PKCS11_MODULE="$module"
export NOON_CONNECT_PKCS11_TOKEN_LABEL="$token"
export NOON_CONNECT_PKCS11_PIN_FILE="$dir/pin"
export NOON_CONNECT_PKCS11_KEY_LABEL="$key"

if [ "$make_key" = 1 ]; then
  # The CLI from the sources in a checkout, else the installed command.
  root="$(cd "$(dirname "$0")/.." && pwd)"
  if [ -n "${NOON_CONNECT_CLI:-}" ]; then
    cli=($NOON_CONNECT_CLI)
  elif [ -f "$root/src/cli/main.ts" ] && [ -x "$root/node_modules/.bin/tsx" ]; then
    cli=(node --import tsx "$root/test/helpers/cli-entry.ts")
  else
    cli=(noon-connect)
  fi
  if ! out="$(cd "$root" && "${cli[@]}" vault keygen --pkcs11 --label "$key" 2>&1)"; then
    # A key left by an earlier run is what we want; anything else is a real failure.
    case "$out" in
      *"already exists"*) ;;
      *) echo "softhsm-setup: $out" >&2; exit 1 ;;
    esac
  fi
fi

for name in SOFTHSM2_CONF NOON_CONNECT_PKCS11_MODULE NOON_CONNECT_PKCS11_TOKEN_LABEL \
  NOON_CONNECT_PKCS11_PIN_FILE NOON_CONNECT_PKCS11_KEY_LABEL; do
  printf "export %s='%s'\n" "$name" "${!name}"
done
