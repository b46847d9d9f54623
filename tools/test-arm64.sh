#!/usr/bin/env bash
# deno task test:arm64: the whole test suite on Linux aarch64, under qemu's user-mode emulation,
# on an x86_64 machine. Needs Debian's qemu-user-static, the aarch64 C library (libc6:arm64) and
# cross compiler (for tests/peer.c): it lists what is missing, and installs it only with
# --install. Fetches Deno's own aarch64 build from npm (@deno/linux-arm64-glibc, the version
# pinned below) into .tools/, saying so first. --help installs nothing.
#
# There is no binfmt_misc here, so nothing starts an aarch64 binary by itself: the tests start
# every second Deno process (and the C peer) through the emulator named in SHMEMAPHORE_EMULATOR.
# The type check is left to the native run (--no-check): under emulation it takes minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
DENO_VERSION=2.9.6

usage() {
  cat << EOF
Usage: deno task test:arm64 [--install] [DENO_TEST_ARGS...]

Runs the test suite on Linux aarch64 under qemu's user-mode emulation (on x86_64). It needs
Debian's qemu-user-static, libc6:arm64 and gcc-aarch64-linux-gnu, and Deno ${DENO_VERSION} for
aarch64 (fetched from npm into .tools/). Packages that are missing are only listed, with the
commands that install them, unless --install is given (then it runs them: as root, changing the
system's package set).
EOF
}

install=0
args=()
for arg in "$@"; do
  case "$arg" in
    -h | --help)
      usage
      exit 0
      ;;
    --install) install=1 ;;
    *) args+=("$arg") ;;
  esac
done

missing=()
command -v qemu-aarch64-static > /dev/null || missing+=(qemu-user-static)
[ -e /lib/ld-linux-aarch64.so.1 ] || missing+=(libc6:arm64)
command -v aarch64-linux-gnu-gcc > /dev/null || missing+=(gcc-aarch64-linux-gnu)
if [ ${#missing[@]} -gt 0 ]; then
  echo "test:arm64: missing Debian packages: ${missing[*]}"
  echo "  dpkg --add-architecture arm64 && apt-get update && apt-get install -y ${missing[*]}"
  if [ "$install" -ne 1 ]; then
    echo "test:arm64: run those, or run again with --install to have them run (as root)" >&2
    exit 2
  fi
  echo "test:arm64: installing ${missing[*]} (--install)"
  dpkg --add-architecture arm64
  apt-get update -q > /dev/null
  apt-get install -y -q "${missing[@]}" > /dev/null
fi

deno_arm64=".tools/deno-linux-arm64-${DENO_VERSION}/deno"
if [ ! -x "$deno_arm64" ]; then
  echo "test:arm64: fetching Deno ${DENO_VERSION} for aarch64 (npm @deno/linux-arm64-glibc)"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "@deno/linux-arm64-glibc@${DENO_VERSION}" > /dev/null)
  mkdir -p "$(dirname "$deno_arm64")"
  tar -xzf "$tmp"/*.tgz -C "$tmp"
  mv "$tmp/package/deno" "$deno_arm64"
  rm -rf "$tmp"
fi

export SHMEMAPHORE_EMULATOR=qemu-aarch64-static
export SHMEMAPHORE_CC=aarch64-linux-gnu-gcc
qemu-aarch64-static "$deno_arm64" --version | head -1
exec qemu-aarch64-static "$deno_arm64" test --no-check --allow-ffi --allow-run --allow-read \
  --allow-write --allow-env --doc ${args[@]+"${args[@]}"}
