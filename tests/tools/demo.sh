#!/usr/bin/env bash
# make demo: the main job (see tests/tools/demo.py). ONCE=1 exits when the run is done.
set -eu
cd "$(dirname "$0")/../.."
exec /usr/bin/python3 tests/tools/demo.py
