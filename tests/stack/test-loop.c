/* The event loop without a TAP (no root needed): a SOCK_SEQPACKET
 * socketpair is the wire. Frames written by the test reach the stack and
 * its answers come back; the loop sleeps until the stack's deadline and
 * no less; extra fds get their callbacks; kw_loop_stop ends a run; a
 * dead device ends the loop with -EIO. Real time, generous bounds. */
#include "fixture.h"
#include "dev/loop.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

static int wire[2];               /* [0]: the stack's end, [1]: the test's */

static int wire_transmit(struct kw_netdev *dev, const void *frame, size_t len)
{
	(void)dev;
	return write(wire[0], frame, len) == (ssize_t)len ? 0 : -EIO;
}
static const struct kw_netdev_ops wire_ops = { .transmit = wire_transmit };

static ssize_t wire_read(void *ctx, void *buf, size_t cap)
{
	ssize_t n = recv(*(int *)ctx, buf, cap, MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	return n;
}

struct extra {
	int calls;
	short revents;
	uint64_t now;
	struct kw_loop *stop;
};

static void on_fd(void *ctx, int fd, short revents, uint64_t now)
{
	struct extra *e = ctx;
	char c;

	e->calls++;
	e->revents = revents;
	e->now = now;
	if (read(fd, &c, 1) != 1)
		e->revents = -1;
	if (e->stop)
		kw_loop_stop(e->stop);
}

int main(void)
{
	struct kw_stack_config cfg = { OUR_IP, 24, 0, 3, KW_TCP_CC_NEWRENO };
	struct kw_netdev dev = { .ops = &wire_ops, .mtu = 1500 };
	struct extra ex = { 0 };
	struct kw_stack *s;
	struct kw_loop *loop;
	uint8_t f[128];
	uint64_t t0, t1;
	unsigned polls;
	int pipefd[2];
	ssize_t n;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, wire) < 0 || pipe(pipefd) < 0)
		tap_skip_all("no socketpair/pipe");
	memcpy(dev.mac, OUR_MAC, 6);
	s = kw_stack_create_with_ops(&cfg, &dev, &fake_tcp_ops);
	loop = kw_loop_create_fd(s, wire[0], wire_read, &wire[0], 1514);
	tap_ok(s && loop, "a stack and a loop on a socketpair");

	/* A frame in, the answer out. */
	n = (ssize_t)build_arp(f, kw_ether_broadcast, KW_ARP_OP_REQUEST, PEER_MAC, PEER_IP, NULL, OUR_IP);
	tap_ok(write(wire[1], f, (size_t)n) == n, "an ARP request on the wire");
	tap_ok(kw_loop_run_once(loop, SEC(2)) == 0, "one round");
	n = recv(wire[1], f, sizeof(f), MSG_DONTWAIT);
	tap_ok(n == 60 && kw_get16(f + 12) == KW_ETH_P_ARP && kw_get16(f + 14 + 6) == KW_ARP_OP_REPLY,
	       "the ARP request written to the wire was answered through the loop");

	/* Sleep until the stack's deadline, not less. */
	t0 = kw_loop_now();
	fake_tcp.deadline = t0 + MS(50);
	polls = fake_tcp.polls;
	tap_ok(kw_loop_run_once(loop, KW_TIME_NEVER) == 0, "a round with nothing but a timer");
	t1 = kw_loop_now();
	tap_ok(t1 - t0 >= MS(50) && t1 - t0 < SEC(2),
	       "it waited for the stack's deadline (50 ms) and no less");
	tap_diag("waited %.2f ms for a 50 ms deadline", (double)(t1 - t0) / 1e6);
	tap_ok(fake_tcp.polls > polls, "and then polled the stack");
	fake_tcp.deadline = KW_TIME_NEVER;

	t0 = kw_loop_now();
	kw_loop_run_once(loop, MS(20));
	t1 = kw_loop_now();
	tap_ok(t1 - t0 >= MS(20) && t1 - t0 < SEC(2), "max_wait bounds a round without a deadline");

	/* Extra fds. */
	tap_ok(kw_loop_add_fd(loop, pipefd[0], POLLIN, on_fd, &ex) == 0 &&
	       kw_loop_add_fd(loop, pipefd[0], POLLIN, on_fd, &ex) == -EEXIST, "an extra fd added once");
	tap_ok(write(pipefd[1], "x", 1) == 1, "a byte in the pipe");
	kw_loop_run_once(loop, SEC(2));
	tap_ok(ex.calls == 1 && (ex.revents & POLLIN) && ex.now >= t1, "its callback got POLLIN and the time");

	/* kw_loop_stop from a callback ends kw_loop_run early. */
	ex.stop = loop;
	if (write(pipefd[1], "y", 1) != 1)
		tap_diag("write to the pipe failed");
	t0 = kw_loop_now();
	tap_ok(kw_loop_run(loop, t0 + SEC(10)) == 0 && kw_loop_now() - t0 < SEC(5) && ex.calls == 2,
	       "kw_loop_stop from a callback ends the run");
	tap_ok(kw_loop_remove_fd(loop, pipefd[0]) == 0 && kw_loop_remove_fd(loop, pipefd[0]) == -ENOENT,
	       "the extra fd removed");

	t0 = kw_loop_now();
	kw_loop_run(loop, t0 + MS(30));
	tap_ok(kw_loop_now() - t0 >= MS(30), "kw_loop_run runs until its end time");

	/* The far end goes away: the device is dead. */
	close(wire[1]);
	tap_is_u64((uint64_t)-kw_loop_run_once(loop, SEC(2)), EIO, "a hung-up device ends the loop with -EIO");

	kw_loop_destroy(loop);
	kw_stack_destroy(s);
	close(wire[0]);
	close(pipefd[0]);
	close(pipefd[1]);
	return tap_done();
}
