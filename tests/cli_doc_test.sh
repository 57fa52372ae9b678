#!/usr/bin/env bash
# docs/CLI.md must be what scripts/gen_cli_doc.sh makes from the binary's help.
# Usage: cli_doc_test.sh PATH_TO_VMSTORE
set -u
bin=${1:?usage: cli_doc_test.sh VMSTORE_BINARY}
root=$(dirname "$0")/..
if ! diff -u "$root/docs/CLI.md" <(bash "$root/scripts/gen_cli_doc.sh" "$bin"); then
  echo "FAIL: docs/CLI.md is out of date: bash scripts/gen_cli_doc.sh build/vmstore > docs/CLI.md"
  exit 1
fi
echo "cli_doc_test: docs/CLI.md is current"
