/*
** responder.c: a fast HTTP/1.1 keep-alive responder on loopback, serving
** registry-shaped answers for the benchmarks (the local registry, in Lua,
** would be the bottleneck).  Not a registry: it answers by path.
**
**   responder PORT_FILE [TOTAL [DELAY_MS]]
**
**   GET  .../bundles/big       a ~1.4 MB bundle
**   GET  .../bundles/ANY       a small bundle (~600 bytes)
**   GET  .../bundles?...       a page of page[size] synthetic bundles after
**                              page[after] (a number), of TOTAL (100000)
**   POST anything              200, empty text/plain body
**   GET  /__stats              {"connections":,"requests":,"max_in_flight":}
**   GET  /__reset              zeroes those counters
**   GET  /__stop               exits
**
** DELAY_MS (default 0) delays every answer but the /__ ones, without
** blocking: a delayed connection waits on a timer in the one poll loop,
** so any number of requests overlap (max_in_flight counts how many did).
** Connections that asked for a /__ path are not counted.  One thread, one
** poll loop: HTTP/1.1 keep-alive, one request at a time per connection.
*/
#define _GNU_SOURCE   /* strcasestr, ppoll */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXC 512
#define INBUF 65536

typedef struct Conn {
  int fd;
  char in[INBUF];
  size_t len;
  size_t skip;          /* request body bytes still to discard */
  int control;          /* asked for a /__ path: not counted */
  int pending;          /* a delayed answer is due at `due` */
  double due;
} Conn;

static char *small_body, *big_body;
static size_t small_len, big_len;
static long total = 100000;
static long connections = 0, requests = 0, in_flight = 0, max_in_flight = 0;
static double delay = 0;   /* seconds */

static double now_s (void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static char *make_big (size_t *len) {
  size_t cap = 1500000, n = 0;
  char *b = malloc(cap);
  int i = 0;
  n += (size_t)sprintf(b, "{\"uuid\":\"big\",\"name\":\"big\",\"integration\":\"bench\","
                       "\"zendesk_account_id\":12345,\"zis_template_version\":\"2019-10-14\","
                       "\"resources\":{");
  while (n < 1400000) {
    n += (size_t)sprintf(b + n, "%s\"flow%d\":{\"type\":\"ZIS::Flow\",\"properties\":{\"name\":"
      "\"flow%d\",\"definition\":{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Action\","
      "\"ActionName\":\"zis:bench:action:a%d\",\"Parameters\":{\"id\":%ld,\"tags\":[\"x\",\"y\"]},"
      "\"Next\":\"B\"},\"B\":{\"Type\":\"Succeed\",\"Message\":\"done\"}}}}}",
      i ? "," : "", i, i, i, 360000000000L + i);
    i++;
  }
  n += (size_t)sprintf(b + n, "}}");
  *len = n;
  return b;
}

static void send_all (int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t k = write(fd, p, n);
    if (k <= 0) return;
    p += k;
    n -= (size_t)k;
  }
}

static void respond (int fd, const char *ctype, const char *body, size_t len) {
  char head[256];
  int h = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\n"
                   "Content-Length: %zu\r\nX-Request-Id: bench\r\n\r\n", ctype, len);
  send_all(fd, head, (size_t)h);
  send_all(fd, body, len);
}

static long query_long (const char *target, const char *key, long dflt) {
  const char *q = strstr(target, key);
  return q ? atol(q + strlen(key)) : dflt;
}

/* A page of synthetic bundles, as the registry shapes it. */
static void page (int fd, const char *target) {
  long size = query_long(target, "page%5Bsize%5D=", 20);
  long after = query_long(target, "page%5Bafter%5D=", 0);
  long i, end = after + size < total ? after + size : total;
  size_t cap = (size_t)(size + 1) * 300 + 256, n = 0;
  char *b = malloc(cap);
  n += (size_t)sprintf(b, "{\"bundles\":[");
  for (i = after; i < end; i++)
    n += (size_t)sprintf(b + n, "%s{\"uuid\":\"%08ld-0000-4000-a000-%012ld\",\"name\":\"bundle_%ld\","
                         "\"integration\":\"bench\",\"description\":\"a synthetic bundle\","
                         "\"zendesk_account_id\":12345,\"zis_template_version\":\"2019-10-14\"}",
                         i > after ? "," : "", i, i, i);
  if (end < total)
    n += (size_t)sprintf(b + n, "],\"meta\":{\"after\":\"%ld\",\"before\":\"%ld\",\"has_more\":true}}",
                         end, after);
  else
    n += (size_t)sprintf(b + n, "],\"meta\":{\"after\":null,\"before\":\"%ld\",\"has_more\":false}}",
                         after);
  respond(fd, "application/json; charset=utf-8", b, n);
  free(b);
}

/* Answers the request at the head of the buffer and drops it. */
static void answer (Conn *c, size_t head, size_t body, const char *target) {
  if (strncmp(c->in, "POST", 4) == 0) respond(c->fd, "text/plain", "", 0);
  else if (strstr(target, "/bundles/big")) respond(c->fd, "application/json", big_body, big_len);
  else if (strstr(target, "/bundles/")) respond(c->fd, "application/json", small_body, small_len);
  else if (strstr(target, "/bundles")) page(c->fd, target);
  else respond(c->fd, "application/json", "{}", 2);
  memmove(c->in, c->in + head, c->len - head);
  c->len -= head;
  c->skip = body;
}

/* The head of the buffer's request, if complete: 1 and its sizes. */
static int parse (Conn *c, size_t *head, size_t *body, char *target) {
  char *end, *cl;
  c->in[c->len] = '\0';
  end = strstr(c->in, "\r\n\r\n");
  if (end == NULL) return 0;
  *head = (size_t)(end + 4 - c->in);
  cl = strcasestr(c->in, "\r\ncontent-length:");
  *body = (cl && cl < end) ? (size_t)atol(cl + 17) : 0;
  if (sscanf(c->in, "%*s %2047s", target) != 1) return -1;
  return 1;
}

/* Handles every complete request in the buffer; 0 to close, -1 to stop.
** A delayed request leaves the connection pending until its time. */
static int serve (Conn *c) {
  for (;;) {
    char target[2048];
    size_t head, body;
    int r;
    if (c->pending) return 1;
    if (c->skip) {
      size_t k = c->skip < c->len ? c->skip : c->len;
      memmove(c->in, c->in + k, c->len - k);
      c->len -= k;
      c->skip -= k;
      if (c->skip) return 1;
    }
    r = parse(c, &head, &body, target);
    if (r == 0) return c->len < INBUF - 1;
    if (r < 0) return 0;
    if (strncmp(target, "/__", 3) == 0) {
      char out[256];
      int n;
      if (!c->control) { c->control = 1; connections--; }
      if (strcmp(target, "/__stop") == 0) return -1;
      if (strcmp(target, "/__reset") == 0) connections = requests = max_in_flight = 0;
      n = snprintf(out, sizeof out, "{\"connections\":%ld,\"requests\":%ld,\"max_in_flight\":%ld}",
                   connections, requests, max_in_flight);
      respond(c->fd, "application/json", out, (size_t)n);
      memmove(c->in, c->in + head, c->len - head);
      c->len -= head;
      c->skip = body;
      continue;
    }
    requests++;
    if (delay > 0) {
      c->pending = 1;
      c->due = now_s() + delay;
      if (++in_flight > max_in_flight) max_in_flight = in_flight;
      return 1;
    }
    answer(c, head, body, target);
  }
}

/* Sends the delayed answer, then serves what else is buffered. */
static int release (Conn *c) {
  char target[2048];
  size_t head, body;
  c->pending = 0;
  in_flight--;
  if (parse(c, &head, &body, target) != 1) return 0;
  answer(c, head, body, target);
  return serve(c);
}

static void drop (Conn *conns, int *n, int i) {
  if (conns[i].pending) in_flight--;
  close(conns[i].fd);
  conns[i] = conns[--*n];
}

int main (int argc, char **argv) {
  struct sockaddr_in a;
  socklen_t alen = sizeof a;
  static struct pollfd pf[MAXC + 1];
  static Conn conns[MAXC];
  int s, one = 1, n = 0, i;
  FILE *f;
  if (argc < 2) { fprintf(stderr, "usage: responder PORT_FILE [TOTAL [DELAY_MS]]\n"); return 2; }
  if (argc > 2) total = atol(argv[2]);
  if (argc > 3) delay = atof(argv[3]) / 1000.0;
  small_body = "{\"uuid\":\"small\",\"name\":\"small\",\"integration\":\"bench\","
    "\"zendesk_account_id\":12345,\"description\":\"a small bundle\",\"zis_template_version\":"
    "\"2019-10-14\",\"resources\":{\"flow\":{\"type\":\"ZIS::Flow\",\"properties\":{\"name\":"
    "\"flow\",\"definition\":{\"StartAt\":\"Done\",\"States\":{\"Done\":{\"Type\":\"Succeed\"}}}}},"
    "\"on_ticket\":{\"type\":\"ZIS::JobSpec\",\"properties\":{\"name\":\"on_ticket\","
    "\"event_source\":\"support\",\"event_type\":\"ticket.TicketCreated\",\"flow_name\":"
    "\"zis:bench:flow:flow\"}}}}";
  small_len = strlen(small_body);
  big_body = make_big(&big_len);
  s = socket(AF_INET, SOCK_STREAM, 0);
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);   /* loopback only */
  if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 511) != 0) { perror("bind"); return 1; }
  getsockname(s, (struct sockaddr *)&a, &alen);
  f = fopen(argv[1], "w");
  fprintf(f, "%d\n", ntohs(a.sin_port));
  fclose(f);
  for (;;) {
    struct timespec ts, *tp = NULL;
    double t, next = -1;
    pf[0].fd = s; pf[0].events = POLLIN;
    for (i = 0; i < n; i++) {
      pf[i + 1].fd = conns[i].fd;
      pf[i + 1].events = conns[i].pending ? 0 : POLLIN;   /* one request at a time */
      if (conns[i].pending && (next < 0 || conns[i].due < next)) next = conns[i].due;
    }
    if (next >= 0) {
      double left = next - now_s();
      if (left < 0) left = 0;
      ts.tv_sec = (time_t)left;
      ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
      tp = &ts;
    }
    if (ppoll(pf, (nfds_t)n + 1, tp, NULL) < 0) continue;
    if (pf[0].revents & POLLIN) {
      int fd = accept(s, NULL, NULL);
      if (fd >= 0 && n < MAXC) {
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conns[n].fd = fd; conns[n].len = 0; conns[n].skip = 0;
        conns[n].control = conns[n].pending = 0;
        n++;
        connections++;
      }
      else if (fd >= 0) close(fd);
    }
    t = now_s();
    for (i = n - 1; i >= 0; i--) {
      Conn *c = &conns[i];
      int r = 1;
      if (c->pending) {
        if (pf[i + 1].revents & (POLLHUP | POLLERR)) r = 0;
        else if (c->due <= t) r = release(c);
      }
      else if (pf[i + 1].revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t k = read(c->fd, c->in + c->len, INBUF - 1 - c->len);
        r = k > 0 ? (c->len += (size_t)k, serve(c)) : 0;
      }
      if (r < 0) {
        fprintf(stderr, "responder: %ld connections\n", connections);
        return 0;
      }
      if (r == 0) drop(conns, &n, i);
    }
  }
}
