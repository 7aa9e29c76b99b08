// A TCP client on WasmEdge's socket extension of wasi_snapshot_preview1
// (see docs/wasi-sockets.md).
//
//   tcp_client.wasm PORT [MESSAGE [A.B.C.D]]
//
// Connects to A.B.C.D:PORT (default 127.0.0.1), prints
// `connected to A.B.C.D:PORT`, sends MESSAGE (default `hello from wasm`)
// and a newline, shuts down its sending side, reads the reply until EOF and
// prints `reply: REPLY` (REPLY without its trailing newline). A failing
// socket call prints `tcp_client: CALL: errno E` on stderr and exits 1.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wasi/api.h>

#define WASI_IMPORT(name) \
    __attribute__((import_module("wasi_snapshot_preview1"), import_name(name)))

typedef struct {
    uint8_t *buf;
    uint32_t buf_len;
} wasmedge_address_t;

enum { AF_INET4 = 1, SOCK_STREAM_ = 2, SHUT_WR_ = 2 };

WASI_IMPORT("sock_open")
uint32_t ws_sock_open(uint32_t family, uint32_t type, uint32_t *fd);
WASI_IMPORT("sock_connect")
uint32_t ws_sock_connect(uint32_t fd, const wasmedge_address_t *addr, uint32_t port);
WASI_IMPORT("sock_recv")
uint32_t ws_sock_recv(uint32_t fd, const __wasi_iovec_t *iovs, uint32_t iovs_len,
                      uint32_t ri_flags, uint32_t *nread, uint16_t *ro_flags);
WASI_IMPORT("sock_send")
uint32_t ws_sock_send(uint32_t fd, const __wasi_ciovec_t *iovs, uint32_t iovs_len,
                      uint32_t si_flags, uint32_t *nwritten);
WASI_IMPORT("sock_shutdown")
uint32_t ws_sock_shutdown(uint32_t fd, uint32_t how);
WASI_IMPORT("sock_getpeeraddr")
uint32_t ws_sock_getpeeraddr(uint32_t fd, wasmedge_address_t *addr, uint32_t *kind,
                             uint32_t *port);

static void check(const char *call, uint32_t err) {
    if (err != 0) {
        fprintf(stderr, "tcp_client: %s: errno %u\n", call, (unsigned)err);
        exit(1);
    }
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) {
        fprintf(stderr, "usage: tcp_client PORT [MESSAGE [A.B.C.D]]\n");
        return 2;
    }
    uint32_t port = (uint32_t)strtoul(argv[1], NULL, 10);
    const char *msg = argc > 2 ? argv[2] : "hello from wasm";
    uint8_t ip[4] = {127, 0, 0, 1};
    if (argc > 3) {
        unsigned a, b, c, d;
        if (sscanf(argv[3], "%u.%u.%u.%u", &a, &b, &c, &d) != 4) {
            fprintf(stderr, "tcp_client: not an IPv4 address: %s\n", argv[3]);
            return 2;
        }
        ip[0] = (uint8_t)a, ip[1] = (uint8_t)b, ip[2] = (uint8_t)c, ip[3] = (uint8_t)d;
    }

    uint32_t fd;
    check("sock_open", ws_sock_open(AF_INET4, SOCK_STREAM_, &fd));
    wasmedge_address_t addr = {.buf = ip, .buf_len = sizeof ip};
    check("sock_connect", ws_sock_connect(fd, &addr, port));

    uint8_t peer[4] = {0};
    wasmedge_address_t peer_addr = {.buf = peer, .buf_len = sizeof peer};
    uint32_t kind = 0, peer_port = 0;
    check("sock_getpeeraddr", ws_sock_getpeeraddr(fd, &peer_addr, &kind, &peer_port));
    printf("connected to %u.%u.%u.%u:%u\n", peer[0], peer[1], peer[2], peer[3],
           (unsigned)peer_port);

    __wasi_ciovec_t out[2] = {
        {.buf = (const uint8_t *)msg, .buf_len = strlen(msg)},
        {.buf = (const uint8_t *)"\n", .buf_len = 1},
    };
    uint32_t sent = 0;
    check("sock_send", ws_sock_send(fd, out, 2, 0, &sent));
    if (sent != strlen(msg) + 1) {
        fprintf(stderr, "tcp_client: sock_send sent %u of %u bytes\n", (unsigned)sent,
                (unsigned)(strlen(msg) + 1));
        return 1;
    }
    check("sock_shutdown", ws_sock_shutdown(fd, SHUT_WR_));

    char reply[4096];
    uint32_t len = 0;
    while (len + 1 < sizeof reply) {
        __wasi_iovec_t in = {.buf = (uint8_t *)reply + len, .buf_len = sizeof reply - 1 - len};
        uint32_t n = 0;
        uint16_t ro_flags = 0;
        check("sock_recv", ws_sock_recv(fd, &in, 1, 0, &n, &ro_flags));
        if (n == 0) {
            break;
        }
        len += n;
    }
    reply[len] = '\0';
    if (len > 0 && reply[len - 1] == '\n') {
        reply[len - 1] = '\0';
    }
    printf("reply: %s\n", reply);
    close((int)fd);
    return 0;
}
