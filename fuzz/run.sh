#!/usr/bin/env bash
# Runs every cargo-fuzz target for a while and records what it did.
#
#   MINUTES=10 bash fuzz/run.sh          # each target 10 minutes (the default)
#   SECS=10 bash fuzz/run.sh             # each target 10 seconds (CI)
#   TARGETS="range framing" ...          # some targets only
#   RECORD=1 ...                         # append the figures to fuzz/RESULTS.md
#   SANITIZER=none DEV=1 ...             # a quicker build (CI): no ASan, debug profile
#
# Needs the nightly toolchain (`cargo +nightly`) and cargo-fuzz (installed
# here if missing). The seeds in fuzz/seeds/TARGET/ are read, never written;
# what the fuzzer finds goes to $WORK/corpus/TARGET (kept between runs), and a
# crash to fuzz/artifacts/TARGET/, after which the script fails. Each run's
# last status line gives the figures: executions, coverage (cov: edges,
# ft: features), corpus size.
set -euo pipefail
cd "$(dirname "$0")"
WORK="${WORK:-${CARGO_TARGET_DIR:-$PWD/../target}/fuzz-work}"
secs="${SECS:-$(( ${MINUTES:-10} * 60 ))}"
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz/run.sh: no nightly toolchain (rustup toolchain install nightly)" >&2
  exit 1
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
targets="${TARGETS:-$(cargo +nightly fuzz list)}"
build=(--sanitizer "${SANITIZER:-address}")
[ -n "${DEV:-}" ] && build+=(--dev)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/../target}/fuzz-nightly"
[ -n "${NOBUILD:-}" ] || cargo +nightly fuzz build "${build[@]}"
bin="$CARGO_TARGET_DIR/$(rustc -vV | sed -n 's/^host: //p')/$([ -n "${DEV:-}" ] && echo debug || echo release)"
mkdir -p "$WORK"
rows=()
failed=0
for t in $targets; do
  mkdir -p "$WORK/corpus/$t" "seeds/$t" "artifacts/$t"
  log="$WORK/$t.log"
  echo "== $t (${secs} s)"
  # The built binary itself: `cargo fuzz run` would rebuild first when the
  # sources changed since the build.
  if "$bin/$t" "$WORK/corpus/$t" "seeds/$t" -artifact_prefix="$PWD/artifacts/$t/" \
      -max_total_time="$secs" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
      >"$log" 2>&1; then
    crash=0
  else
    crash=1
    failed=1
    tail -40 "$log"
  fi
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1 || true)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(grep -oE 'cov: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || true)
  ft=$(grep -oE 'ft: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || true)
  corp=$(grep -oE 'corp: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || true)
  printf '%-18s %6s s  %12s execs  cov %6s  ft %6s  corpus %5s  crash %s\n' \
    "$t" "$secs" "${runs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$crash"
  rows+=("| $t | $secs | ${runs:-?} | ${cov:-?} | ${ft:-?} | ${corp:-?} | $([ $crash = 0 ] && echo none || echo "see fuzz/artifacts/$t") |")
done
if [ -n "${RECORD:-}" ]; then
  {
    echo
    echo "### $(date -u +%Y-%m-%d) — $(git rev-parse --short HEAD 2>/dev/null), ${SANITIZER:-address} sanitizer, ${secs} s per target"
    echo
    echo "| target | seconds | executions | cov (edges) | ft (features) | corpus | crashes |"
    echo "|---|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
  } >>RESULTS.md
fi
exit $failed
