/* A library whose constructor opens a TCP socket. Linked into the probe,
 * it runs before libkeepwire.so's own constructor (ld.so initialises the
 * program's dependencies before preloaded objects), which is the
 * constructor-order case keepwire must survive. */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

static int seen_keepalive = -1, seen_idle = -1, seen_fd = -1;

__attribute__((constructor)) static void open_socket_early(void)
{
	socklen_t len = sizeof(int);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	seen_fd = fd;
	if (fd < 0)
		return;
	getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &seen_keepalive, &len);
	len = sizeof(int);
	getsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &seen_idle, &len);
	close(fd);
}

__attribute__((visibility("default"))) void ctorsock_result(int *fd, int *keepalive, int *idle);
void ctorsock_result(int *fd, int *keepalive, int *idle)
{
	*fd = seen_fd;
	*keepalive = seen_keepalive;
	*idle = seen_idle;
}
