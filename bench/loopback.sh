#!/usr/bin/env bash
# Backup throughput to two local-directory sites versus two site servers on loopback ports
# (HTTPS, signed requests, receipts), on the same data: the cost of the network path.
# Usage: bash bench/loopback.sh [SIZE_MIB (default 1024)] [RUNS (default 3)]
# Prints a Markdown table of medians (wall seconds, MB/s, CPU seconds, peak RSS).
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-1024}
runs=${2:-3}
source bench/servers.sh

# Half incompressible (random), half text that zstd shrinks by about a quarter (base64).
mkdir -p "$work/data"
head -c $((size_mib / 2))M /dev/urandom > "$work/data/volume.bin"
head -c $((size_mib * 3 / 8))M /dev/urandom | base64 -w 100 > "$work/data/register.txt"
bytes=$(du -sb "$work/data" | cut -f1)

timed_backup() { # $1: home; prints "wall user+sys maxrss_kib"
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
  /usr/bin/time -f '%e %U %S %M' -o "$1/time" "$bin" --config "$1/chancery.toml" backup "$work/data" >/dev/null
  awk '{printf "%s %.2f %s\n", $1, $2 + $3, $4}' "$1/time"
}

run_dir() { # $1: run number
  local home=$work/dir-$1
  new_home "$home"
  "$bin" --config "$home/chancery.toml" site add lu --dir "$home/lu" --location 49.61,6.13 --jurisdiction LU >/dev/null
  "$bin" --config "$home/chancery.toml" site add se --dir "$home/se" --location 59.33,18.07 --jurisdiction SE >/dev/null
  timed_backup "$home"
}

run_loopback() { # $1: run number
  local home=$work/net-$1
  new_home "$home"
  add_servers "$home"
  timed_backup "$home"
  stop_servers
}

declare -A wall cpu rss
for variant in dir loopback; do
  : > "$work/$variant.txt"
  for run in $(seq "$runs"); do "run_$variant" "$run" >> "$work/$variant.txt"; rm -rf "$work"/dir-* "$work"/net-*; done
  wall[$variant]=$(cut -d' ' -f1 "$work/$variant.txt" | median)
  cpu[$variant]=$(cut -d' ' -f2 "$work/$variant.txt" | median)
  rss[$variant]=$(cut -d' ' -f3 "$work/$variant.txt" | median)
done

echo "First backup of $((bytes / 1048576)) MiB to two sites, median of $runs runs ($(nproc) cores):"
echo
echo "| sites | wall s | MB/s | CPU s | peak RSS MiB |"
echo "|---|---|---|---|---|"
for variant in dir loopback; do
  awk -v v="$variant" -v w="${wall[$variant]}" -v c="${cpu[$variant]}" -v r="${rss[$variant]}" -v b="$bytes" \
    'BEGIN {printf "| %s | %.1f | %.0f | %.1f | %.0f |\n", v, w, b / w / 1e6, c, r / 1024}'
done
awk -v d="${wall[dir]}" -v l="${wall[loopback]}" \
  'BEGIN {printf "\nloopback / local-directory wall time: %.2f (target: at most 1.20)\n", l / d}'
