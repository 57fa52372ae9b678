#!/usr/bin/env bash
# `cmake --install` into a scratch prefix: the program runs from there, the
# systemd unit is where systemd looks and passes `systemd-analyze verify`, the
# documentation is installed.
# Usage: install_test.sh BUILD_DIR
set -u
build=${1:?usage: install_test.sh BUILD_DIR}
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools systemd-analyze
use_tmp
check "cmake --install" 0 "Installing: .*/bin/vmstore" -- cmake --install "$build" --prefix "$tmp/usr/local"
check "the installed program runs" 0 "Usage: vmstore" -- "$tmp/usr/local/bin/vmstore" --help
check "the systemd unit is installed" 0 "ExecStart=/usr/local/bin/vmstore serve" -- \
  cat "$tmp/usr/local/lib/systemd/system/vmstore.service"
check "the documentation is installed" 0 "CLI.md" -- ls "$tmp/usr/local/share/doc/vmstore"
# The unit names /usr/local/bin/vmstore; verify it against the installed copy.
sed "s|/usr/local/bin/vmstore|$tmp/usr/local/bin/vmstore|g" "$tmp/usr/local/lib/systemd/system/vmstore.service" \
  >"$tmp/vmstore.service"
check "systemd-analyze verify" 0 "" -- systemd-analyze verify "$tmp/vmstore.service"
echo "install_test: $pass passed, $fail failed"
[[ $fail -eq 0 ]]
