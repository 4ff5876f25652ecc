/* Socket helpers: address parsing and listening sockets. */
#ifndef INFERD_NET_SOCK_H
#define INFERD_NET_SOCK_H

#include <stddef.h>
#include <sys/socket.h>

/* Parses "HOST:PORT", "[V6]:PORT" or ":PORT" into a socket address (numeric hosts, "localhost",
 * or names the resolver knows). Returns 0, or -1 with a message in err. */
int sock_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len, char *err,
                    size_t errlen);
/* Opens a non-blocking listening socket with SO_REUSEADDR and SO_REUSEPORT (so each event loop
 * may own one on the same port). Returns the fd or -errno. */
int sock_listen(const struct sockaddr_storage *ss, socklen_t len, int backlog);
/* Checks that nobody listens on the address yet (SO_REUSEPORT alone would let a second server
 * of the same user silently share the port). 0 if free, else -errno (-EADDRINUSE). */
int sock_check_free(const struct sockaddr_storage *ss, socklen_t len);
/* Port of a bound socket, or -1. */
int sock_local_port(int fd);

#endif
