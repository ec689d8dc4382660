# Shared by bench/loopback.sh and bench/growth.sh (sourced, not run): the release binary (or
# $bin if set), a work folder removed at exit with every site server started, and helpers.
bin=${bin:-}
if [ -z "$bin" ]; then
  cargo build --release --quiet -p chancery
  bin=$PWD/target/release/chancery
fi
work=$(mktemp -d)
# Servers are started in command substitutions (subshells), so their pids go to a file, not
# to a variable the exit trap would never see filled.
stop_servers() {
  if [ -f "$work/server.pids" ]; then
    while read -r pid; do kill "$pid" 2>/dev/null || true; done < "$work/server.pids"
    : > "$work/server.pids"
  fi
}
cleanup() { stop_servers; rm -rf "$work"; }
trap cleanup EXIT
export CHANCERY_PASSWORD="bench password"

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
  echo $! >> "$work/server.pids"
  until line=$(head -n1 "$1.out" 2>/dev/null) && [ -n "$line" ]; do sleep 0.1; done
  echo "https://${line#listening on } $key"
}

add_servers() { # $1: home; starts two site servers (lu, se) and adds them as its sites
  local owner name loc cc url key
  owner=$("$bin" --config "$1/chancery.toml" owner-key)
  for site in lu:49.61,6.13:LU se:59.33,18.07:SE; do
    IFS=: read -r name loc cc <<< "$site"
    read -r url key <<< "$(start_server "$1/server-$name" "$name" "$owner")"
    "$bin" --config "$1/chancery.toml" site add "$name" --url "$url" --site-key "$key" --tenant bench \
      --location "$loc" --jurisdiction "$cc" >/dev/null
  done
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}'; }
