#!/usr/bin/env bash
# Benchmarks (issues 7, 13 and 15): builds the release gateway and the load generator (the
# `load` bench target), runs the measurements, each next to a limit or a baseline measured
# in the same run (issue 13's line: genuine-notification p99 while 200 slow clients are
# held, against the same without them; issue 15's: notification to webhook 2xx and to
# long-poll answer, against the same notifications' ingest latency), and rewrites the figures in BENCHMARKS.md between its `bench:begin` and `bench:end` markers.
# One command on a fresh clone; a few minutes on 2 cores once built.
set -euo pipefail
cd "$(dirname "$0")/.."

results=target/bench/results.md
mkdir -p target/bench
# `cargo bench` builds target/release/umsgate too (release settings) and runs the generator.
cargo bench --locked --bench load -- --out "$results"

# The machine and the code the figures belong to.
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
mem=$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain -- . ':!BENCHMARKS.md' 2>/dev/null)" ]; then
  commit="$commit with uncommitted changes"
fi
block=$(mktemp)
trap 'rm -f "$block"' EXIT
{
  echo '<!-- bench:begin -->'
  echo "Run on $(date -u '+%Y-%m-%d %H:%M UTC'), commit \`$commit\`, with \`scripts/bench.sh\`:"
  echo "$(nproc) CPUs ($cpu), $mem of memory, $(rustc --version | cut -d' ' -f1-2)."
  echo
  cat "$results"
  echo '<!-- bench:end -->'
} > "$block"

# Replace the block between the markers (or append one if there is none).
if grep -q '<!-- bench:begin -->' BENCHMARKS.md 2>/dev/null; then
  awk -v block="$block" '
    /<!-- bench:begin -->/ { while ((getline line < block) > 0) print line; skip = 1; next }
    /<!-- bench:end -->/   { skip = 0; next }
    !skip' BENCHMARKS.md > BENCHMARKS.md.new
  mv BENCHMARKS.md.new BENCHMARKS.md
else
  { echo '# Benchmarks'; echo; cat "$block"; } >> BENCHMARKS.md
fi
echo "BENCHMARKS.md updated ($results)."
