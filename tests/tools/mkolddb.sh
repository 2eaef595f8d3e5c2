#!/usr/bin/env bash
# Makes the frozen old-version databases of tests/data/migrate/ with the OLD
# code: each commit below is checked out in a scratch worktree under /tmp,
# built there, and its own binaries and queue functions write the file.
# It was run once; the files are committed and must never be remade with
# newer code (that would hide an in-place edit of an old migration, which is
# what the migration tests exist to catch). A new schema version adds its
# file by adding a line here with the commit where that version is current.
#
#   tests/tools/mkolddb.sh OUTDIR         (OUTDIR must not hold the files yet)
#   tests/tools/mkolddb.sh OUTDIR --v4    (queue-v4.db alone, beside the others)
#   tests/tools/mkolddb.sh OUTDIR --web-v4  (web-v4.db alone, beside the others)
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
out=${1:?usage: mkolddb.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
PY=/usr/bin/python3

# version -> the commit that makes its file. Neither the queue nor web.db was
# ever at version 1 in a commit (both first commits migrate to 2 at once), so
# the version-1 files come from the first commit holding both, 4609f69: its
# migration 1 alone (queue), or its server's file with migration 2's one table
# dropped, checked equal to its own `winnow-web schema 1` (web).
V1=4609f69	# first commit with winnowd's queue (v2) and winnow-web (v2)
V2=a8f7a1b	# last commit at queue v2 (606df91^); web.db is at v2 there too
V3=e635884	# queue v3 (since 606df91), web.db v3 (since e68d477)
W4=4e23262	# web.db v4 (datasources per purpose, the Idempotency-Key store): main before issue 15's v5
V4=c0758c2	# queue v4 (since the selection-plans issue), the last queue of the wire before
		# SPEC 7's (its outbox rows are what queue v5's migration rewrites)

build() {	# commit -> prints the worktree, built
	local c=$1 wt=/tmp/mkolddb-$1
	[ -d "$wt" ] || git -C "$repo" worktree add --detach "$wt" "$c" >&2
	make -C "$wt" -j2 bin/winnow-web build/libwinnow.a >&2
	cc -std=c11 -D_GNU_SOURCE -O1 -I"$wt" -I"$wt/lib" $(pkg-config --cflags sqlite3 libuv) \
		-o "$wt/mkolddb_queue" "$repo/tests/tools/mkolddb_queue.c" "$wt/build/libwinnow.a" \
		$(pkg-config --libs sqlite3 libuv libcjson yajl libcurl openblas libjpeg libpng libwebp \
			libwebpdemux libxxhash 2>/dev/null) -lpthread -lm >&2
	echo "$wt"
}

# One file, complete on its own: WAL checkpointed into it, rollback journal
# mode (the servers turn WAL on again at open), vacuumed into 1 KiB pages.
seal() {
	$PY - "$1" <<'EOF'
import sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
con.execute("PRAGMA journal_mode=DELETE")
con.execute("PRAGMA page_size=1024")
con.execute("VACUUM")
con.close()
EOF
	rm -f "$1-wal" "$1-shm" "$1.log"
}

schema_of() {	# db -> normalised sqlite_master, one object a line
	$PY - "$1" <<'EOF'
import re, sqlite3, sys
con = sqlite3.connect(sys.argv[1])
for t, n, s in sorted(con.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL")):
    print(t, n, re.sub(r"\s+", " ", s))
EOF
}

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# queue-v4.db came later than the others (h-wire): made alone into an OUTDIR
# that already holds the older files, which are kept as they are.
if [ "${2:-}" = "--v4" ]; then
	[ ! -e "$out/queue-v4.db" ] || { echo "mkolddb: $out/queue-v4.db exists; made once" >&2; exit 1; }
	wt4=$(build $V4)
	"$wt4/mkolddb_queue" "$out/queue-v4.db"
	seal "$out/queue-v4.db"
	(cd "$out" && sha256sum ./*.db ./*.json > SHA256SUMS)
	git -C "$repo" worktree remove --force "/tmp/mkolddb-$V4"
	echo "mkolddb: made queue-v4.db"
	exit 0
fi

# web-v4.db came later too (issue 15): the routes of SPEC 7's wire (mkolddb_web.py --v4).
if [ "${2:-}" = "--web-v4" ]; then
	[ ! -e "$out/web-v4.db" ] || { echo "mkolddb: $out/web-v4.db exists; made once" >&2; exit 1; }
	wtw=$(build $W4)
	mkdir -p "$scratch/r4"
	$PY tests/tools/mkolddb_web.py --v4 --web "$wtw/bin/winnow-web" --db "$out/web-v4.db" \
		--root "$scratch/r4" --out "$out/web-v4.json"
	seal "$out/web-v4.db"
	rm -f "$out/web-v4.db.urlkey"
	(cd "$out" && sha256sum ./web-v4.db ./web-v4.json >> SHA256SUMS)
	git -C "$repo" worktree remove --force "/tmp/mkolddb-$W4"
	echo "mkolddb: made web-v4.db"
	exit 0
fi

for f in queue-v1.db queue-v2.db queue-v3.db web-v1.db web-v2.db web-v3.db; do
	[ ! -e "$out/$f" ] || { echo "mkolddb: $out/$f exists; the files are made once" >&2; exit 1; }
done

wt1=$(build $V1)
"$wt1/mkolddb_queue" --v1 "$out/queue-v1.db"
mkdir -p "$scratch/r1"
$PY tests/tools/mkolddb_web.py --web "$wt1/bin/winnow-web" --db "$out/web-v1.db" \
	--root "$scratch/r1" --out "$out/web-v1.json"
$PY - "$out/web-v1.db" "$out/web-v1.json" <<'EOF'
import json, sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("DROP TABLE sessions")
con.execute("PRAGMA user_version = 1")
con.close()
rec = json.load(open(sys.argv[2]))
del rec["session_cookie"]
json.dump(rec, open(sys.argv[2], "w"), indent=1, sort_keys=True)
EOF
"$wt1/bin/winnow-web" schema 1 | $PY -c 'import sqlite3, sys; sqlite3.connect(sys.argv[1]).executescript(sys.stdin.read())' "$scratch/fresh1.db"
if ! diff <(schema_of "$scratch/fresh1.db") <(schema_of "$out/web-v1.db") >&2; then
	echo "mkolddb: web-v1.db is not version 1's schema" >&2
	exit 1
fi

wt2=$(build $V2)
"$wt2/mkolddb_queue" "$out/queue-v2.db"
mkdir -p "$scratch/r2"
$PY tests/tools/mkolddb_web.py --web "$wt2/bin/winnow-web" --db "$out/web-v2.db" \
	--root "$scratch/r2" --out "$out/web-v2.json"

wt3=$(build $V3)
"$wt3/mkolddb_queue" "$out/queue-v3.db"
mkdir -p "$scratch/r3"
$PY tests/tools/mkolddb_web.py --web "$wt3/bin/winnow-web" --db "$out/web-v3.db" \
	--root "$scratch/r3" --out "$out/web-v3.json"

for f in queue-v1.db queue-v2.db queue-v3.db web-v1.db web-v2.db web-v3.db; do
	seal "$out/$f"
done
(cd "$out" && sha256sum ./*.db ./*.json > SHA256SUMS)
echo "mkolddb: made $(ls "$out" | tr '\n' ' ')"
for c in $V1 $V2 $V3; do git -C "$repo" worktree remove --force "/tmp/mkolddb-$c"; done
