/*
 * The ceiling for evserve's HTTP hot path: a minimal hand-written C epoll loop answering
 * every request with a fixed 13-byte "Hello, World!" — what the brief calls the ceiling.
 *
 * One thread, edge-triggered epoll, non-blocking sockets, one read and one write per batch of
 * pipelined requests, a Date header formatted at most once a second, no allocation per
 * request (the response is rebuilt once a second and copied). It counts requests by their
 * "\r\n\r\n" and ignores bodies: a benchmark peer, not a server. Built and run by
 * benches/compare.sh:  cc -O2 -o c_epoll_plain c_epoll_plain.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 1024
#define BUF 65536

static char resp[256];
static size_t resp_len;
static time_t date_at;

/* The whole response is rebuilt when the second changes, then only copied per request. */
static void refresh_response(void) {
    time_t now = time(NULL);
    if (now != date_at) {
        char date[64];
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        resp_len = (size_t)snprintf(resp, sizeof resp,
            "HTTP/1.1 200 OK\r\nServer: c\r\nContent-Type: text/plain\r\n"
            "Content-Length: 13\r\nDate: %s\r\n\r\nHello, World!", date);
        date_at = now;
    }
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 18083;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) || listen(lfd, 4096)) {
        perror("bind/listen");
        return 1;
    }
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd}, events[MAX_EVENTS];
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    static char in[BUF], out[BUF * 4];
    /* Bytes of a request head seen so far per fd: "\r\n\r\n" may straddle two reads. */
    static unsigned char state[65536];
    for (;;) {
        int n = epoll_wait(ep, events, MAX_EVENTS, -1);
        refresh_response();
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == lfd) {
                int c;
                while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct epoll_event cev = {.events = EPOLLIN | EPOLLET, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                    state[c & 0xffff] = 0;
                }
                continue;
            }
            for (;;) {
                ssize_t r = read(fd, in, sizeof in);
                if (r <= 0) {
                    if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) close(fd);
                    break;
                }
                size_t len = 0;
                unsigned char s = state[fd & 0xffff];
                for (ssize_t k = 0; k < r; k++) {
                    char ch = in[k];
                    s = (ch == (s % 2 == 0 ? '\r' : '\n')) ? s + 1 : (ch == '\r' ? 1 : 0);
                    if (s == 4) {
                        if (len + resp_len <= sizeof out) {
                            memcpy(out + len, resp, resp_len);
                            len += resp_len;
                        }
                        s = 0;
                    }
                }
                state[fd & 0xffff] = s;
                if (len && write(fd, out, len) < 0) { close(fd); break; }
                if (r < (ssize_t)sizeof in) break; /* drained: same shortcut as evserve */
            }
        }
    }
}
