#!/usr/bin/env bash
# Installs, builds and runs every test: the release build, again under
# AddressSanitizer + UndefinedBehaviorSanitizer, the concurrency tests under
# ThreadSanitizer, and the libFuzzer harnesses for a bounded time.
# Under CI=true a missing component fails the run; nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh build
# The zfs SR tests need the zfs-fuse daemon (no init system starts it here):
# start it for the run unless one answers, and stop it afterwards.
zfs_fuse_alive() { ps -C zfs-fuse -o stat= 2>/dev/null | grep -qv '^Z'; }
for _ in $(seq 100); do  # a daemon still going away is let go first
  zpool list >/dev/null 2>&1 || ! zfs_fuse_alive && break
  sleep 0.1
done
if ! zpool list >/dev/null 2>&1; then
  rm -f /run/vmstore-test-zfs-fuse.pid  # left by a killed daemon; zfs-fuse refuses to start over it
  zfs-fuse --no-kstat-mount --pidfile /run/vmstore-test-zfs-fuse.pid || { echo "cannot start zfs-fuse" >&2; exit 1; }
  stop_zfs_fuse() {
    local pid
    pid=$(cat /run/vmstore-test-zfs-fuse.pid 2>/dev/null) || return 0
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  }
  trap stop_zfs_fuse EXIT
  for _ in $(seq 50); do zpool list >/dev/null 2>&1 && break; sleep 0.1; done
fi
(cd build && ctest --output-on-failure -j2 --timeout 900)
# The sanitizer builds compile at -O1 with line tables only (-g1): the level
# ASan is designed for, full stack traces, and half the compile time of -O2 -g.
sanitizer_flags=(-DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG")
if [[ "${VMSTORE_SKIP_TSA:-}" != 1 ]]; then
  # clang's thread-safety analysis over the whole tree (GUARDED_BY / REQUIRES,
  # util/thread_annotations.h): a member touched without its lock fails this
  # build. Only the analysis matters here, so no optimisation and no benchmarks.
  CXX=clang++ bash scripts/setup.sh build-tsa -DVMSTORE_BENCH=OFF \
    -DCMAKE_CXX_FLAGS="-Wthread-safety -Werror=thread-safety" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O0 -g0"
fi
if [[ "${VMSTORE_SKIP_ASAN:-}" != 1 ]]; then
  bash scripts/setup.sh build-asan -DVMSTORE_SANITIZE=ON -DVMSTORE_BENCH=OFF "${sanitizer_flags[@]}"
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    ctest --output-on-failure -j2 --timeout 1500 -E '^cluster_fault_test_sh$')  # (4 min in the release run)
fi
if [[ "${VMSTORE_SKIP_TSAN:-}" != 1 ]]; then
  # ThreadSanitizer on the concurrency tests.
  VMSTORE_TARGETS="engine_test nbd_server_test" bash scripts/setup.sh build-tsan \
    -DCMAKE_CXX_FLAGS=-fsanitize=thread -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread "${sanitizer_flags[@]}"
  TSAN_OPTIONS=halt_on_error=1 ./build-tsan/engine_test --gtest_filter='*Concurrent*'  # incl. background checkpoints
  TSAN_OPTIONS=halt_on_error=1 ./build-tsan/nbd_server_test
fi
if [[ "${VMSTORE_SKIP_FUZZ:-}" != 1 ]]; then
  # libFuzzer on the NBD parsers: 30 s from the committed corpus (copied, so the
  # checkout stays as it is). New crashers are left in build-fuzz/.
  mkdir -p build-fuzz
  clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc \
    fuzz/nbd_wire_fuzz.cc src/nbd/wire.cc src/util/status.cc -o build-fuzz/nbd_wire_fuzz
  rm -rf build-fuzz/corpus && cp -r fuzz/corpus/nbd_wire build-fuzz/corpus
  (cd build-fuzz && ./nbd_wire_fuzz -max_total_time=30 -print_final_stats=1 corpus 2>&1 | tail -3)
fi
