# Shared by the black-box shell tests: `check` runs a command and compares its
# exit code and output with what is expected, counting passes and failures.
pass=0 fail=0

check() {  # check NAME EXPECTED_RC PATTERN -- command...
  local name=$1 want=$2 pattern=$3
  shift 4
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if [[ $rc -eq $want ]] && grep -qE -- "$pattern" <<<"$out"; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "FAIL: $name (rc $rc, want $want; pattern '$pattern')"
    echo "$out" | head -20 | sed 's/^/    /'
  fi
}
