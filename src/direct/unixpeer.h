/* Whether the program still holds its end of a socketpair, asked of the
 * kernel's sock_diag (NETLINK_SOCK_DIAG, AF_UNIX): what the engine uses
 * once its own end is shut both ways and so hangs up by itself. */
#ifndef KW_DIRECT_UNIXPEER_H
#define KW_DIRECT_UNIXPEER_H

#include <stdint.h>

/* The inode of the other end of the connected AF_UNIX socket fd; 0 if it
 * cannot be known (no sock_diag, or the other end is gone already). */
uint32_t kw_unix_peer_ino(int fd);

/* Whether an AF_UNIX socket with inode ino is still open: 1 yes, 0 no
 * (its last descriptor was closed), -1 unknown. */
int kw_unix_ino_open(uint32_t ino);

#endif
