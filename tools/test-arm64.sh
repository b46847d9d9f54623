#!/usr/bin/env bash
# deno task test:arm64: the whole test suite on Linux aarch64, under qemu's user-mode emulation,
# on an x86_64 machine. Installs what it needs, once: Debian's qemu-user-static, the aarch64 C
# library (libc6:arm64) and cross compiler (for tests/peer.c), and Deno's own aarch64 build from
# npm (@deno/linux-arm64-glibc, the version pinned below), unpacked into .tools/.
#
# There is no binfmt_misc here, so nothing starts an aarch64 binary by itself: the tests start
# every second Deno process (and the C peer) through the emulator named in SHMEMAPHORE_EMULATOR.
# The type check is left to the native run (--no-check): under emulation it takes minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
DENO_VERSION=2.9.6

missing=()
command -v qemu-aarch64-static > /dev/null || missing+=(qemu-user-static)
[ -e /lib/ld-linux-aarch64.so.1 ] || missing+=(libc6:arm64)
command -v aarch64-linux-gnu-gcc > /dev/null || missing+=(gcc-aarch64-linux-gnu)
if [ ${#missing[@]} -gt 0 ]; then
  echo "test:arm64: installing ${missing[*]} (Debian packages)"
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
  --allow-write --allow-env --doc "$@"
