/* nodelay_shim.c — benchmark experiment only, never linked into ProvCA:
 * an LD_PRELOAD library that sets TCP_NODELAY on every accepted socket, to
 * measure what CivetWeb's "tcp_nodelay" option (default 0) costs ca-server
 * without changing the server. bench.py runs it when BENCH_EXPERIMENTS=1.
 * Build: cc -shared -fPIC -O2 -o nodelay_shim.so nodelay_shim.c -ldl */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <sys/socket.h>

typedef int (*accept_fn)(int, struct sockaddr *, socklen_t *);
typedef int (*accept4_fn)(int, struct sockaddr *, socklen_t *, int);

static void nodelay(int fd)
{
	int on = 1;

	if (fd >= 0)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
}

int accept(int s, struct sockaddr *a, socklen_t *l)
{
	accept_fn real = (accept_fn)dlsym(RTLD_NEXT, "accept");
	int fd = real != NULL ? real(s, a, l) : -1;

	nodelay(fd);
	return fd;
}

int accept4(int s, struct sockaddr *a, socklen_t *l, int flags)
{
	accept4_fn real = (accept4_fn)dlsym(RTLD_NEXT, "accept4");
	int fd = real != NULL ? real(s, a, l, flags) : -1;

	nodelay(fd);
	return fd;
}
