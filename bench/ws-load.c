/*
 * A WebTorrent announce load generator in C: the relay load of bench/ws-load.ts (browsers in a few swarms each,
 * announces with SDP offers, every relayed offer answered), at a fraction of its CPU. bench/ws-load.ts, on
 * Node's `ws`, fills its own core at ~7,000 announces a second, below what the trackers it measures can take,
 * so their CPU per announce also counts the cost of waking up for a few messages at a time. This one leaves the
 * tracker the bottleneck, as the C generator of issue #15's first figures did. Loopback only; it stops by itself.
 *
 *   gcc -O2 -o ws-load-c bench/ws-load.c
 *   ./ws-load-c --port N [--duration S] [--warmup S] [--connections N] [--hashes N] [--swarms-per-connection N]
 *               [--offers N] [--sdp-bytes N] [--seed N] [--cpu-pid PID] [--redis-pids "PID PID …"] [--label NAME]
 *               [--zipf 0] [--answer 1] [--stopped 0]
 *
 * What a browser does, as ws-load.ts with --window 1 --zipf 0 --answer 1 --stopped 0: one socket, one peer_id,
 * --swarms-per-connection swarms drawn uniformly from --hashes; it announces in one of them at a time (`started`
 * the first time, then updates; `left` 0 three times in ten), with --offers offers of --sdp-bytes, and sends its
 * next announce when the reply comes. Each relayed offer is answered at once, one frame a write, as a browser
 * sends them. Info hashes are 20 seeded random bytes written as JSON.stringify writes a binary string. Messages
 * are told apart by what they contain (an offer, an answer, a failure, an announce reply), not parsed.
 *
 * Prints a summary and the RESULT line of bench/harness/report.ts (the keys bench/compare-wt.sh reads):
 * responses, errors, offers and answers received, latency, its own CPU and the tracker's (--cpu-pid: the process
 * and its children, user and kernel, from /proc) in the measured window; with --redis-pids, also those processes'
 * CPU per response (redis_cpu_us_per_resp), for a tracker on a Redis store.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SWARMS 64
#define TIMEOUT_S 5.0

static struct {
  const char *host, *label, *redis_pids;
  int port, connections, hashes, swarms, offers, sdp_bytes, cpu_pid;
  double duration, warmup;
  unsigned seed;
} opt = {"127.0.0.1", "", "", 0, 200, 100, 5, 5, 700, 0, 10, 2, 1};

typedef struct {
  int fd, open; /* open: handshake done */
  char *in;
  size_t in_len, in_cap;
  char *out; /* bytes the socket did not take yet */
  size_t out_len, out_cap;
  char peer_id[21];
  int swarm[MAX_SWARMS], joined[MAX_SWARMS];
  unsigned offers_made;
  double sent_at; /* 0: no announce in flight */
} conn_t;

static conn_t *conns;
static int epfd;
static char **hash_json; /* each info hash as a JSON string, quotes included */
static char *sdp_json;
static char *msg; /* a message being built */
static size_t msg_cap;
static int measuring;
static struct { long responses, failures, timeouts, closes, offers, answers; } count;
static uint32_t *latency_us;
static size_t latency_len, latency_cap;
static uint64_t rng;

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("ws-load-c: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  exit(1);
}

static uint64_t next_random(void) { /* xorshift64* */
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return rng * 2685821657736338717ULL;
}
static double random01(void) { return (next_random() >> 11) * (1.0 / 9007199254740992.0); }

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *grow(void *p, size_t *cap, size_t need, size_t unit) {
  if (need <= *cap) return p;
  size_t cap2 = *cap ? *cap : 4096;
  while (cap2 < need) cap2 *= 2;
  p = realloc(p, cap2 * unit);
  if (!p) die("out of memory");
  *cap = cap2;
  return p;
}

/* A binary string as JSON.stringify writes it: UTF-8, control characters escaped. */
static char *binary_json(const unsigned char *b, int n) {
  char *s = malloc(n * 6 + 3), *p = s;
  *p++ = '"';
  for (int i = 0; i < n; i++) {
    unsigned c = b[i];
    if (c == '"' || c == '\\') *p++ = '\\', *p++ = (char)c;
    else if (c == '\b') p += sprintf(p, "\\b");
    else if (c == '\f') p += sprintf(p, "\\f");
    else if (c == '\n') p += sprintf(p, "\\n");
    else if (c == '\r') p += sprintf(p, "\\r");
    else if (c == '\t') p += sprintf(p, "\\t");
    else if (c < 0x20) p += sprintf(p, "\\u%04x", c);
    else if (c < 0x80) *p++ = (char)c;
    else *p++ = (char)(0xc0 | c >> 6), *p++ = (char)(0x80 | (c & 0x3f));
  }
  *p++ = '"';
  *p = 0;
  return s;
}

/* Queues bytes for the socket; writes what it takes now. */
static void put(conn_t *c, const char *data, size_t len) {
  if (c->out_len == 0) {
    ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
    if (n == (ssize_t)len) return;
    if (n < 0) {
      if (errno != EAGAIN) return; /* the read side sees the close */
      n = 0;
    }
    data += n, len -= (size_t)n;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
  }
  c->out = grow(c->out, &c->out_cap, c->out_len + len, 1);
  memcpy(c->out + c->out_len, data, len);
  c->out_len += len;
}

/* Sends `len` bytes of msg as one masked text frame (opcode `op`), in one write. The mask key is 0 (allowed: the
 * key is the client's to choose), so the payload goes as it is. */
static void send_frame(conn_t *c, size_t len, int op) {
  unsigned char head[14];
  size_t h = 0;
  head[h++] = (unsigned char)(0x80 | op);
  if (len < 126) head[h++] = (unsigned char)(0x80 | len);
  else if (len < 65536) head[h++] = 0x80 | 126, head[h++] = (unsigned char)(len >> 8), head[h++] = (unsigned char)len;
  else {
    head[h++] = 0x80 | 127;
    for (int i = 7; i >= 0; i--) head[h++] = (unsigned char)((uint64_t)len >> (8 * i));
  }
  memset(head + h, 0, 4);
  h += 4;
  msg = grow(msg, &msg_cap, len + h, 1);
  memmove(msg + h, msg, len);
  memcpy(msg, head, h);
  put(c, msg, len + h);
}

static size_t add(size_t at, const char *s, size_t n) {
  msg = grow(msg, &msg_cap, at + n + 14, 1);
  memcpy(msg + at, s, n);
  return at + n;
}
#define ADD(at, s) add(at, s, strlen(s))

static void announce(conn_t *c) {
  int which = (int)(next_random() % (uint64_t)opt.swarms);
  char num[64];
  size_t at = 0;
  at = ADD(at, "{\"action\":\"announce\",\"info_hash\":");
  at = ADD(at, hash_json[c->swarm[which]]);
  at = ADD(at, ",\"peer_id\":\"");
  at = add(at, c->peer_id, 20);
  snprintf(num, sizeof num, "\",\"numwant\":%d,\"uploaded\":0,\"downloaded\":0,\"left\":%d", opt.offers, random01() < 0.3 ? 0 : 1000000);
  at = ADD(at, num);
  if (!c->joined[which]) {
    at = ADD(at, ",\"event\":\"started\"");
    c->joined[which] = 1;
  }
  if (opt.offers > 0) {
    at = ADD(at, ",\"offers\":[");
    for (int i = 0; i < opt.offers; i++) {
      at = ADD(at, i ? ",{\"offer\":{\"type\":\"offer\",\"sdp\":" : "{\"offer\":{\"type\":\"offer\",\"sdp\":");
      at = ADD(at, sdp_json);
      snprintf(num, sizeof num, "},\"offer_id\":\"o%.11s%08x\"}", c->peer_id + 8, c->offers_made++);
      at = ADD(at, num);
    }
    at = ADD(at, "]");
  }
  at = ADD(at, "}");
  c->sent_at = now_s();
  send_frame(c, at, 1);
}

/* The JSON string after `"key":` in the message, quotes included; 0 when absent. */
static size_t string_after(const char *m, size_t len, const char *key, const char **value) {
  const char *k = memmem(m, len, key, strlen(key));
  if (!k) return 0;
  const char *p = k + strlen(key), *end = m + len;
  if (p >= end || *p != '"') return 0;
  const char *q = p + 1;
  while (q < end && *q != '"') q += *q == '\\' ? 2 : 1;
  if (q >= end) return 0;
  *value = p;
  return (size_t)(q + 1 - p);
}

static void answer(conn_t *c, const char *m, size_t len) {
  const char *ih, *from, *offer_id;
  size_t ih_len = string_after(m, len, "\"info_hash\":", &ih), from_len = string_after(m, len, "\"peer_id\":", &from),
         id_len = string_after(m, len, "\"offer_id\":", &offer_id);
  if (!ih_len || !from_len || !id_len) {
    if (measuring) count.failures++;
    return;
  }
  /* The offer's fields are read from c->in, the read buffer; msg, the answer, is another buffer. */
  size_t at = 0;
  at = ADD(at, "{\"action\":\"announce\",\"info_hash\":");
  at = add(at, ih, ih_len);
  at = ADD(at, ",\"peer_id\":\"");
  at = add(at, c->peer_id, 20);
  at = ADD(at, "\",\"to_peer_id\":");
  at = add(at, from, from_len);
  at = ADD(at, ",\"offer_id\":");
  at = add(at, offer_id, id_len);
  at = ADD(at, ",\"answer\":{\"type\":\"answer\",\"sdp\":");
  at = ADD(at, sdp_json);
  at = ADD(at, "}}");
  send_frame(c, at, 1);
}

static void on_message(conn_t *c, const char *m, size_t len) {
  if (memmem(m, len, "\"offer\":{", 9)) {
    if (measuring) count.offers++;
    answer(c, m, len);
  } else if (memmem(m, len, "\"answer\":{", 10)) {
    if (measuring) count.answers++;
  } else if (memmem(m, len, "\"failure reason\"", 16) || memmem(m, len, "\"interval\":", 11)) {
    if (c->sent_at == 0) return; /* late: its announce timed out */
    int failed = memmem(m, len, "\"failure reason\"", 16) != NULL;
    if (measuring) {
      if (failed) {
        if (count.failures++ == 0) fprintf(stderr, "ws-load-c: failure reply: %.*s\n", (int)(len < 200 ? len : 200), m);
      } else {
        count.responses++;
        latency_us = grow(latency_us, &latency_cap, latency_len + 1, sizeof *latency_us);
        latency_us[latency_len++] = (uint32_t)((now_s() - c->sent_at) * 1e6);
      }
    }
    c->sent_at = 0;
    announce(c);
  }
}

static void open_conn(conn_t *c);

static void close_conn(conn_t *c, int by_tracker) {
  if (c->fd < 0) return;
  close(c->fd);
  c->fd = -1;
  c->open = 0;
  c->in_len = c->out_len = 0;
  c->sent_at = 0;
  memset(c->joined, 0, sizeof c->joined);
  if (by_tracker && measuring) count.closes++;
  open_conn(c);
}

/* Frames in c->in: handles every complete one; false when the socket was closed. */
static int read_frames(conn_t *c) {
  size_t at = 0;
  for (;;) {
    unsigned char *b = (unsigned char *)c->in + at;
    size_t avail = c->in_len - at, h = 2;
    if (avail < 2) break;
    uint64_t len = b[1] & 0x7f;
    if (len == 126) {
      if (avail < 4) break;
      len = (uint64_t)b[2] << 8 | b[3];
      h = 4;
    } else if (len == 127) {
      if (avail < 10) break;
      len = 0;
      for (int i = 0; i < 8; i++) len = len << 8 | b[2 + i];
      h = 10;
    }
    if (b[1] & 0x80) h += 4; /* a server never masks; skip a key if one does */
    if (avail < h + len) break;
    int op = b[0] & 0x0f;
    char *payload = (char *)b + h;
    at += h + (size_t)len;
    if (op == 8) {
      close_conn(c, 1);
      return 0;
    }
    if (op == 9) { /* ping: pong with its payload */
      msg = grow(msg, &msg_cap, len + 14, 1);
      memcpy(msg, payload, (size_t)len);
      send_frame(c, (size_t)len, 10);
    } else if (op == 1 || op == 2) {
      on_message(c, payload, (size_t)len);
    }
  }
  memmove(c->in, c->in + at, c->in_len - at);
  c->in_len -= at;
  return 1;
}

static void on_readable(conn_t *c) {
  for (;;) {
    c->in = grow(c->in, &c->in_cap, c->in_len + 65536, 1);
    ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
      close_conn(c, 1);
      return;
    }
    if (n < 0) return;
    c->in_len += (size_t)n;
    if (!c->open) {
      char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
      if (!end) continue;
      if (strncmp(c->in, "HTTP/1.1 101", 12) != 0) die("upgrade refused: %.*s", (int)(end - c->in), c->in);
      size_t head = (size_t)(end + 4 - c->in);
      memmove(c->in, c->in + head, c->in_len - head);
      c->in_len -= head;
      c->open = 1;
      announce(c);
    }
    if (!read_frames(c)) return;
    if ((size_t)n < 65536) return;
  }
}

static void on_writable(conn_t *c) {
  if (c->out_len > 0) {
    ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
    if (n > 0) {
      memmove(c->out, c->out + n, c->out_len - (size_t)n);
      c->out_len -= (size_t)n;
    }
  }
  if (c->out_len == 0) {
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
  }
}

static void open_conn(conn_t *c) {
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port)};
  inet_pton(AF_INET, opt.host, &addr.sin_addr);
  int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  if (fd < 0) die("socket: %s", strerror(errno));
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) die("connect to %s:%d: %s", opt.host, opt.port, strerror(errno));
  fcntl(fd, F_SETFL, O_NONBLOCK);
  c->fd = fd;
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
  epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
  char req[256];
  int n = snprintf(req, sizeof req,
                   "GET / HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                   opt.host, opt.port);
  put(c, req, (size_t)n);
}

/* CPU seconds (user, kernel) of a process and its descendants, from /proc. */
static void tree_cpu(int pid, double *user, double *sys) {
  char path[64], buf[4096];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f) return;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  unsigned long ut = 0, st = 0;
  /* fields after the name: state(3) ... utime(14) stime(15) */
  if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2) {
    double tck = (double)sysconf(_SC_CLK_TCK);
    *user += ut / tck, *sys += st / tck;
  }
  snprintf(path, sizeof path, "/proc/%d/task/%d/children", pid, pid);
  if (!(f = fopen(path, "r"))) return;
  int child;
  while (fscanf(f, "%d", &child) == 1) tree_cpu(child, user, sys);
  fclose(f);
}

/* CPU seconds of the --redis-pids processes. */
static double redis_cpu(void) {
  double user = 0, sys = 0;
  char *list = strdup(opt.redis_pids), *save = NULL;
  for (char *p = strtok_r(list, " ,", &save); p; p = strtok_r(NULL, " ,", &save)) tree_cpu(atoi(p), &user, &sys);
  free(list);
  return user + sys;
}

static double self_cpu(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static int by_value(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static void usage(void) {
  fputs("usage: ws-load-c --port N [--host 127.0.0.1] [--duration S] [--warmup S] [--connections N] [--hashes N]\n"
        "                 [--swarms-per-connection N] [--offers N] [--sdp-bytes N] [--seed N] [--cpu-pid PID] [--label NAME]\n",
        stderr);
  exit(2);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) usage();
    i++;
    if (!strcmp(a, "--port")) opt.port = atoi(v);
    else if (!strcmp(a, "--host")) opt.host = v;
    else if (!strcmp(a, "--duration")) opt.duration = atof(v);
    else if (!strcmp(a, "--warmup")) opt.warmup = atof(v);
    else if (!strcmp(a, "--connections")) opt.connections = atoi(v);
    else if (!strcmp(a, "--hashes")) opt.hashes = atoi(v);
    else if (!strcmp(a, "--swarms-per-connection")) opt.swarms = atoi(v);
    else if (!strcmp(a, "--offers")) opt.offers = atoi(v);
    else if (!strcmp(a, "--sdp-bytes")) opt.sdp_bytes = atoi(v);
    else if (!strcmp(a, "--seed")) opt.seed = (unsigned)atoi(v);
    else if (!strcmp(a, "--cpu-pid")) opt.cpu_pid = atoi(v);
    else if (!strcmp(a, "--label")) opt.label = v;
    else if (!strcmp(a, "--redis-pids")) opt.redis_pids = v;
    /* ws-load.ts options, accepted at the values this load has (bench/compare-wt.sh passes the same to both) */
    else if (!strcmp(a, "--zipf") || !strcmp(a, "--stopped")) {
      if (atof(v) != 0) die("%s: only 0 here (uniform swarms, no `stopped`)", a);
    } else if (!strcmp(a, "--answer")) {
      if (atof(v) != 1) die("--answer: only 1 here (every offer answered)");
    } else usage();
  }
  if (opt.port < 1 || opt.port > 65535 || opt.connections < 1 || opt.hashes < 1 || opt.swarms < 1 || opt.swarms > MAX_SWARMS ||
      opt.swarms > opt.hashes || opt.offers < 0 || opt.offers > 50 || opt.sdp_bytes < 1 || opt.sdp_bytes > 30000 ||
      opt.duration <= 0 || opt.duration > 3600 || opt.warmup < 0 || opt.warmup > 600)
    usage();
  if (strncmp(opt.host, "127.", 4) != 0) die("loopback only (127.0.0.0/8), not %s", opt.host);
  rng = 0x9e3779b97f4a7c15ULL * (opt.seed + 1);

  hash_json = malloc(sizeof *hash_json * (size_t)opt.hashes);
  for (int h = 0; h < opt.hashes; h++) {
    unsigned char b[20];
    for (int i = 0; i < 20; i++) b[i] = (unsigned char)next_random();
    hash_json[h] = binary_json(b, 20);
  }
  /* The SDP ws-load.ts sends: lines of a host candidate, cut to size, JSON-quoted ("\r\n" escaped). */
  const char *line = "a=candidate:1 1 UDP 2122252543 127.0.0.1 50000 typ host\r\n";
  char *sdp = malloc((size_t)opt.sdp_bytes + 128);
  strcpy(sdp, "v=0\r\n");
  while (strlen(sdp) < (size_t)opt.sdp_bytes) strcat(sdp, line);
  sdp[opt.sdp_bytes] = 0;
  sdp_json = malloc(strlen(sdp) * 2 + 3);
  char *q = sdp_json;
  *q++ = '"';
  for (char *p = sdp; *p; p++) {
    if (*p == '\r') *q++ = '\\', *q++ = 'r';
    else if (*p == '\n') *q++ = '\\', *q++ = 'n';
    else *q++ = *p;
  }
  *q++ = '"';
  *q = 0;

  if ((epfd = epoll_create1(0)) < 0) die("epoll: %s", strerror(errno));
  conns = calloc((size_t)opt.connections, sizeof *conns);
  for (int i = 0; i < opt.connections; i++) {
    conn_t *c = &conns[i];
    snprintf(c->peer_id, sizeof c->peer_id, "-WC0208-%012d", i);
    for (int s = 0; s < opt.swarms;) { /* distinct swarms */
      int h = (int)(next_random() % (uint64_t)opt.hashes), dup = 0;
      for (int k = 0; k < s; k++) dup |= c->swarm[k] == h;
      if (!dup) c->swarm[s++] = h;
    }
    c->fd = -1;
    open_conn(c);
  }

  double start = now_s(), window_start = 0, cpu0 = 0, user0 = 0, sys0 = 0, redis0 = 0;
  struct epoll_event events[256];
  for (;;) {
    int n = epoll_wait(epfd, events, 256, 50);
    for (int i = 0; i < n; i++) {
      conn_t *c = events[i].data.ptr;
      if (c->fd < 0) continue;
      if (events[i].events & EPOLLOUT) on_writable(c);
      if (c->fd >= 0 && events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(c);
    }
    double t = now_s();
    if (!measuring && window_start == 0 && t - start >= opt.warmup) {
      measuring = 1;
      window_start = t;
      cpu0 = self_cpu();
      if (opt.cpu_pid) tree_cpu(opt.cpu_pid, &user0, &sys0);
      redis0 = redis_cpu();
    } else if (measuring && t - window_start >= opt.duration) {
      break;
    }
    for (int i = 0; i < opt.connections; i++) { /* timeouts: the announce is counted lost and the next one sent */
      conn_t *c = &conns[i];
      if (c->open && c->sent_at != 0 && t - c->sent_at > TIMEOUT_S) {
        if (measuring) count.timeouts++;
        c->sent_at = 0;
        announce(c);
      }
    }
  }
  double elapsed = now_s() - window_start, gen_cpu = self_cpu() - cpu0, user1 = 0, sys1 = 0;
  if (opt.cpu_pid) tree_cpu(opt.cpu_pid, &user1, &sys1);
  double tracker = (user1 - user0) + (sys1 - sys0), redis = redis_cpu() - redis0;
  qsort(latency_us, latency_len, sizeof *latency_us, by_value);
  uint32_t p50 = latency_len ? latency_us[latency_len / 2] : 0, p99 = latency_len ? latency_us[latency_len * 99 / 100] : 0;
  long errors = count.failures + count.timeouts + count.closes;

  printf("ws-load-c %s:%d%s%s: connections=%d offers=%dx%d B swarms-per-connection=%d hashes=%d\n", opt.host, opt.port,
         *opt.label ? " " : "", opt.label, opt.connections, opt.offers, opt.sdp_bytes, opt.swarms, opt.hashes);
  printf("  responses:  %ld in %.2f s = %.0f responses/s\n", count.responses, elapsed, count.responses / elapsed);
  printf("  relayed:    %ld offers received, %ld answers received\n", count.offers, count.answers);
  printf("  errors:     %ld failure replies, %ld timeouts, %ld connections closed by the tracker\n", count.failures, count.timeouts, count.closes);
  printf("  latency:    p50 %.1f ms, p99 %.1f ms\n", p50 / 1000.0, p99 / 1000.0);
  printf("  generator:  %.2f CPU s (%.0f%% of one core)\n", gen_cpu, 100 * gen_cpu / elapsed);
  if (opt.cpu_pid)
    printf("  tracker:    %.2f CPU s (%.0f%% of one core), %.2f µs CPU/response, %.0f%% of it in the kernel\n", tracker,
           100 * tracker / elapsed, count.responses ? 1e6 * tracker / count.responses : 0, tracker > 0 ? 100 * (sys1 - sys0) / tracker : 0);
  if (*opt.redis_pids)
    printf("  redis:      %.2f CPU s (%.0f%% of one core), %.2f µs CPU/response\n", redis, 100 * redis / elapsed,
           count.responses ? 1e6 * redis / count.responses : 0);
  printf("RESULT proto=ws responses=%ld elapsed=%.3f rps=%.0f errors=%ld failures=%ld timeouts=%ld closes=%ld offers=%ld answers=%ld "
         "p50_us=%u p99_us=%u gen_cpu_s=%.3f tracker_cpu_s=%.3f cpu_us_per_resp=%.3f kernel_share=%.3f redis_cpu_us_per_resp=%.3f\n",
         count.responses, elapsed, count.responses / elapsed, errors, count.failures, count.timeouts, count.closes, count.offers,
         count.answers, p50, p99, gen_cpu, tracker, count.responses && opt.cpu_pid ? 1e6 * tracker / count.responses : NAN,
         tracker > 0 ? (sys1 - sys0) / tracker : NAN, *opt.redis_pids && count.responses ? 1e6 * redis / count.responses : NAN);
  return count.responses > 0 ? 0 : 1;
}
