#!/usr/bin/env bash
# Installs, builds and runs every test: the release build, then the engine's
# tests again under AddressSanitizer + UndefinedBehaviorSanitizer.
# Under CI=true a missing component fails the run; nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh build
(cd build && ctest --output-on-failure -j2 --timeout 900)
if [[ "${VMSTORE_SKIP_ASAN:-}" != 1 ]]; then
  bash scripts/setup.sh build-asan -DVMSTORE_SANITIZE=ON
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    ctest --output-on-failure -j2 --timeout 1500)
fi
if [[ "${VMSTORE_SKIP_TSAN:-}" != 1 ]]; then
  # ThreadSanitizer on the concurrency tests.
  bash scripts/setup.sh build-tsan -DCMAKE_CXX_FLAGS=-fsanitize=thread -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread
  TSAN_OPTIONS=halt_on_error=1 ./build-tsan/engine_test --gtest_filter='*Concurrent*'
  TSAN_OPTIONS=halt_on_error=1 ./build-tsan/nbd_server_test
fi
