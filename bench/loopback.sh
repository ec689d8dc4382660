#!/usr/bin/env bash
# Backup throughput to two local-directory sites versus two site servers on loopback ports
# (HTTPS, signed requests, receipts), on the same data: the cost of the network path.
# Usage: bash bench/loopback.sh [SIZE_MIB (default 1024)] [RUNS (default 3)]
# Prints a Markdown table of medians (wall seconds, MB/s, CPU seconds, peak RSS).
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-1024}
runs=${2:-3}
cargo build --release --quiet -p chancery
bin=$PWD/target/release/chancery
work=$(mktemp -d)
servers=()
cleanup() { for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
export CHANCERY_PASSWORD="bench password"

# Half incompressible (random), half text that zstd shrinks by about a quarter (base64).
mkdir -p "$work/data"
head -c $((size_mib / 2))M /dev/urandom > "$work/data/volume.bin"
head -c $((size_mib * 3 / 8))M /dev/urandom | base64 -w 100 > "$work/data/register.txt"
bytes=$(du -sb "$work/data" | cut -f1)

new_home() { # $1: folder
  mkdir -p "$1"
  "$bin" --config "$1/chancery.toml" init --owner Bench --home 59.437,24.754 --jurisdiction EE >/dev/null
}

start_server() { # $1: data folder, $2: name, $3: owner key; prints URL and site key
  local key line
  key=$("$bin" --json site-admin init --data "$1" --name "$2" --location 50,10 --jurisdiction DE \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["site_key"])')
  "$bin" site-admin enroll --data "$1" --tenant bench --owner-key "$3" >/dev/null
  CHANCERY_LOG=warn "$bin" serve --data "$1" --listen 127.0.0.1:0 > "$1.out" 2>/dev/null &
  servers+=($!)
  until line=$(head -n1 "$1.out" 2>/dev/null) && [ -n "$line" ]; do sleep 0.1; done
  echo "https://${line#listening on } $key"
}

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
  local home=$work/net-$1 owner url key
  new_home "$home"
  owner=$("$bin" --config "$home/chancery.toml" owner-key)
  for site in lu:49.61,6.13:LU se:59.33,18.07:SE; do
    IFS=: read -r name loc cc <<< "$site"
    read -r url key <<< "$(start_server "$home/server-$name" "$name" "$owner")"
    "$bin" --config "$home/chancery.toml" site add "$name" --url "$url" --site-key "$key" --tenant bench \
      --location "$loc" --jurisdiction "$cc" >/dev/null
  done
  timed_backup "$home"
  for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; done
  servers=()
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}'; }

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
