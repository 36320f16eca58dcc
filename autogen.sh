#!/bin/sh
# Generate ./configure from configure.ac (needs autoconf, automake, libtool).
set -e
cd "$(dirname "$0")"
autoreconf --force --install --verbose >/dev/null
echo "Now run ./configure && make"
