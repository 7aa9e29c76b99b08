// The "Hello from Wasm!" HTTP microservice, on WasmEdge's socket extension
// of wasi_snapshot_preview1 (see docs/wasi-sockets.md).
//
//   http_hello.wasm [PORT [N]]
//
// Listens on 0.0.0.0:PORT (default 8080) and answers every request with
// `HTTP/1.1 200 OK` and the body `Hello from Wasm!\n`; exits 0 after N
// requests (default: serves forever). Prints `listening on 0.0.0.0:PORT`
// once it accepts connections, then one line per request
// (`request N from ADDR:PORT: REQUEST-LINE`). A failing socket call prints
// `http_hello: CALL: errno E` on stderr and exits 1.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wasi/api.h>

#define WASI_IMPORT(name) \
    __attribute__((import_module("wasi_snapshot_preview1"), import_name(name)))

// WasmEdge's address argument: a pointer to this 8-byte struct, whose buf
// holds the address bytes in network order; buf_len 4 means IPv4, 16 IPv6.
typedef struct {
    uint8_t *buf;
    uint32_t buf_len;
} wasmedge_address_t;

// The "V1" socket functions (WasmEdge's own names and signatures). Every
// one returns a WASI errno (0 = success).
enum { AF_INET4 = 1 };            // __WASI_ADDRESS_FAMILY_INET4
enum { SOCK_STREAM_ = 2 };        // __WASI_SOCK_TYPE_SOCK_STREAM
enum { SOL_SOCKET_ = 0, SO_REUSEADDR_ = 0 };
enum { SHUT_WR_ = 2 };            // __WASI_SDFLAGS_WR

WASI_IMPORT("sock_open")
uint32_t ws_sock_open(uint32_t family, uint32_t type, uint32_t *fd);
WASI_IMPORT("sock_setsockopt")
uint32_t ws_sock_setsockopt(uint32_t fd, uint32_t level, uint32_t name, const void *flag,
                            uint32_t flag_size);
WASI_IMPORT("sock_bind")
uint32_t ws_sock_bind(uint32_t fd, const wasmedge_address_t *addr, uint32_t port);
WASI_IMPORT("sock_listen")
uint32_t ws_sock_listen(uint32_t fd, uint32_t backlog);
WASI_IMPORT("sock_accept")
uint32_t ws_sock_accept(uint32_t fd, uint32_t *new_fd);
WASI_IMPORT("sock_recv")
uint32_t ws_sock_recv(uint32_t fd, const __wasi_iovec_t *iovs, uint32_t iovs_len,
                      uint32_t ri_flags, uint32_t *nread, uint16_t *ro_flags);
WASI_IMPORT("sock_send")
uint32_t ws_sock_send(uint32_t fd, const __wasi_ciovec_t *iovs, uint32_t iovs_len,
                      uint32_t si_flags, uint32_t *nwritten);
WASI_IMPORT("sock_shutdown")
uint32_t ws_sock_shutdown(uint32_t fd, uint32_t how);
WASI_IMPORT("sock_getlocaladdr")
uint32_t ws_sock_getlocaladdr(uint32_t fd, wasmedge_address_t *addr, uint32_t *kind,
                              uint32_t *port);
WASI_IMPORT("sock_getpeeraddr")
uint32_t ws_sock_getpeeraddr(uint32_t fd, wasmedge_address_t *addr, uint32_t *kind,
                             uint32_t *port);

static const char BODY[] = "Hello from Wasm!\n";

static void check(const char *call, uint32_t err) {
    if (err != 0) {
        fprintf(stderr, "http_hello: %s: errno %u\n", call, (unsigned)err);
        exit(1);
    }
}

static void send_all(uint32_t fd, const char *data, uint32_t len) {
    while (len > 0) {
        __wasi_ciovec_t iov = {.buf = (const uint8_t *)data, .buf_len = len};
        uint32_t n = 0;
        check("sock_send", ws_sock_send(fd, &iov, 1, 0, &n));
        if (n == 0) {
            return;
        }
        data += n;
        len -= n;
    }
}

// Reads until the end of the request head (an empty line), EOF or a full
// buffer; returns the length read, the buffer NUL-terminated.
static uint32_t read_request(uint32_t fd, char *buf, uint32_t cap) {
    uint32_t len = 0;
    while (len + 1 < cap) {
        __wasi_iovec_t iov = {.buf = (uint8_t *)buf + len, .buf_len = cap - 1 - len};
        uint32_t n = 0;
        uint16_t ro_flags = 0;
        uint32_t err = ws_sock_recv(fd, &iov, 1, 0, &n, &ro_flags);
        if (err != 0) {
            fprintf(stderr, "http_hello: sock_recv: errno %u\n", (unsigned)err);
            break;
        }
        if (n == 0) {
            break;
        }
        len += n;
        buf[len] = '\0';
        if (strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n")) {
            break;
        }
    }
    buf[len] = '\0';
    return len;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    uint32_t port = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 8080;
    long max = argc > 2 ? strtol(argv[2], NULL, 10) : 0;

    uint32_t srv;
    check("sock_open", ws_sock_open(AF_INET4, SOCK_STREAM_, &srv));
    int32_t one = 1;
    check("sock_setsockopt", ws_sock_setsockopt(srv, SOL_SOCKET_, SO_REUSEADDR_, &one,
                                                sizeof one));
    uint8_t any[4] = {0, 0, 0, 0};
    wasmedge_address_t addr = {.buf = any, .buf_len = sizeof any};
    check("sock_bind", ws_sock_bind(srv, &addr, port));
    check("sock_listen", ws_sock_listen(srv, 16));

    uint8_t local[4] = {0};
    wasmedge_address_t local_addr = {.buf = local, .buf_len = sizeof local};
    uint32_t kind = 0, local_port = 0;
    check("sock_getlocaladdr", ws_sock_getlocaladdr(srv, &local_addr, &kind, &local_port));
    printf("listening on %u.%u.%u.%u:%u\n", local[0], local[1], local[2], local[3],
           (unsigned)local_port);

    for (long served = 0; max <= 0 || served < max;) {
        uint32_t conn;
        check("sock_accept", ws_sock_accept(srv, &conn));

        uint8_t peer[4] = {0};
        wasmedge_address_t peer_addr = {.buf = peer, .buf_len = sizeof peer};
        uint32_t peer_port = 0;
        check("sock_getpeeraddr", ws_sock_getpeeraddr(conn, &peer_addr, &kind, &peer_port));

        char req[4096];
        read_request(conn, req, sizeof req);
        char *eol = strpbrk(req, "\r\n");
        if (eol) {
            *eol = '\0';
        }

        char head[160];
        int head_len = snprintf(head, sizeof head,
                                "HTTP/1.1 200 OK\r\n"
                                "Content-Type: text/plain\r\n"
                                "Content-Length: %u\r\n"
                                "Connection: close\r\n"
                                "\r\n",
                                (unsigned)(sizeof BODY - 1));
        send_all(conn, head, (uint32_t)head_len);
        send_all(conn, BODY, sizeof BODY - 1);
        ws_sock_shutdown(conn, SHUT_WR_);
        close((int)conn);

        served++;
        printf("request %ld from %u.%u.%u.%u:%u: %s\n", served, peer[0], peer[1], peer[2],
               peer[3], (unsigned)peer_port, req);
    }
    close((int)srv);
    return 0;
}
