#!/bin/sh
# The keepwire command in front of real clients. Each line is a complete
# example; none of these programs enables TCP keepalive by itself.
#
#   sh examples/wrapper.sh HOST PORT    runs the socat example against HOST:PORT
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
if [ -x "$here/keepwire" ]; then KEEPWIRE="$here/keepwire"; else KEEPWIRE=keepwire; fi

cat <<'TEXT'
Examples:
  # a message-queue consumer behind a NAT that forgets flows after 350 s
  keepwire --idle 120 --interval 15 --count 4 -- ./consumer --broker mq.internal:5672

  # an interactive TCP session that must notice a vanished peer within a minute
  keepwire --idle 30 --interval 5 --count 6 -- socat - TCP:db.internal:5432

  # a long download: also fail when the peer stops acknowledging our data
  keepwire --user-timeout auto -- curl -O http://mirror.internal/big.iso

  # in a shell session: everything started from it is covered
  export LD_PRELOAD=/usr/local/lib/libkeepwire.so KEEPWIRE_IDLE=60
TEXT

if [ $# -eq 2 ]; then
	echo
	echo "Running: $KEEPWIRE --idle 30 --interval 5 --count 6 -- socat - TCP:$1:$2"
	exec "$KEEPWIRE" --idle 30 --interval 5 --count 6 -- socat - "TCP:$1:$2"
fi
