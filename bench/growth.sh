#!/usr/bin/env bash
# What a backup costs as backups accumulate: an archive backed up every five minutes holds
# about 100,000 snapshots after a year, and whatever a backup does once per snapshot, index
# file or pack ever written grows with it. Two site servers on loopback ports; one small tree
# in which one file changes before every backup (so each backup writes a pack, an index file,
# a snapshot and a ledger entry).
# Usage: bash bench/growth.sh [BACKUPS (default 2000)] [EVERY (default BACKUPS/10)] [BINARY]
# Prints a Markdown table: at every EVERY-th backup, the median wall and CPU seconds of the
# last five backups and what the last backup cost the first server (requests, bytes it sent).
set -euo pipefail
cd "$(dirname "$0")/.."
backups=${1:-2000}
every=${2:-$((backups / 10))}
bin=${3:-}
source bench/servers.sh

home=$work/home
new_home "$home"
add_servers "$home"
first=https://$(head -n1 "$home/server-lu.out" | sed 's/^listening on //')
mkdir -p "$work/src"
for i in 1 2 3; do echo "register row $i" > "$work/src/f$i.txt"; done

metrics() { # requests served and bytes sent so far by the first server
  curl -sk "$first/metrics" | awk '
    /^chancery_site_requests_total/ { requests += $NF }
    /^chancery_site_sent_bytes_total/ { sent = $NF }
    END { printf "%d %d\n", requests, sent }'
}

echo "| backups so far | wall s (median of 5) | CPU s | requests to one server | bytes it sent |"
echo "|---|---|---|---|---|"
for i in $(seq "$backups"); do
  echo "row $i" >> "$work/src/f1.txt"
  read -r requests_before sent_before <<< "$(metrics)"
  /usr/bin/time -f '%e %U %S' -a -o "$work/times" "$bin" --config "$home/chancery.toml" backup "$work/src" >/dev/null
  read -r requests_after sent_after <<< "$(metrics)"
  if [ $((i % every)) -eq 0 ] || [ "$i" -eq 1 ]; then
    wall=$(tail -n 5 "$work/times" | awk '{ print $1 }' | median)
    cpu=$(tail -n 5 "$work/times" | awk '{ printf "%.2f\n", $2 + $3 }' | median)
    echo "| $i | $wall | $cpu | $((requests_after - requests_before)) | $((sent_after - sent_before)) |"
  fi
done
