/*
 * peer.c: a peer that speaks only the plain protocol of the image exchange, for the
 * interoperability tests and the C pair of the benchmark. No extensions: it reads and writes only
 * the first 32 bytes of the header.
 *
 * Channel C: semaphores /SEM_C_REQ (server posts: request ready) and /SEM_C_RES (client posts:
 * response ready), segments /SEG_C_HEAD (header) and /SEG_C_DATA (data; grows, never shrinks).
 * Request: header word 0 = n, data[0, n) = the name. Response: words 0..3 = length, width,
 * height, channels; data = the pixels; length = width * height * channels.
 *
 *   peer server CHANNEL ROUNDS NAME[,NAME...] OUTDIR   asks NAMES in turn; writes OUTDIR/I_NAME.raw
 *                                                      and prints "I NAME W H C LEN" or "I NAME error"
 *   peer client CHANNEL ROUNDS                         answers ROUNDS requests: a name "WxHxC" gets
 *                                                      byte k = (k*7 + w + 3h + 11c) & 0xff; any other
 *                                                      name an error answer (four words 0)
 *   peer bench-server CHANNEL copy|zero   reads lines "BYTES ROUNDS" on stdin; for each, times
 *                                         ROUNDS exchanges of BYTES and prints each one's
 *                                         nanoseconds, a line each; at the end of its input, asks
 *                                         for 0 bytes (the client's cue to stop) and exits
 *   peer bench-client CHANNEL copy|zero   answers requests for BYTES (the name, in decimal) with
 *                                         BYTES bytes, until one asks for 0
 *
 * Waits spin on sem_trywait for up to 100 us, then block in sem_timedwait (10 s: exit 3).
 * Build: cc -O2 -Wall -Wextra -o peer tests/peer.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void die(const char *call, const char *name) {
  fprintf(stderr, "peer: %s %s: %s\n", call, name, strerror(errno));
  exit(2);
}

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* A mapped segment that follows the object's size. */
typedef struct {
  char name[300];
  int fd;
  uint8_t *p;
  size_t size;
} seg_t;

static void seg_sync(seg_t *s) {
  struct stat st;
  if (fstat(s->fd, &st) != 0) die("fstat", s->name);
  if ((size_t)st.st_size == s->size) return;
  if (s->p) munmap(s->p, s->size);
  s->p = NULL;
  s->size = (size_t)st.st_size;
  if (s->size == 0) return;
  s->p = mmap(NULL, s->size, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
  if (s->p == MAP_FAILED) die("mmap", s->name);
}

static void seg_grow(seg_t *s, size_t size) {
  seg_sync(s);
  if (size <= s->size) return;
  if (ftruncate(s->fd, (off_t)size) != 0) die("ftruncate", s->name);
  seg_sync(s);
}

static void seg_create(seg_t *s, const char *name, size_t size) {
  snprintf(s->name, sizeof s->name, "%s", name);
  shm_unlink(name); /* replace a stale one */
  s->fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
  if (s->fd < 0) die("shm_open", name);
  s->p = NULL;
  s->size = 0;
  seg_grow(s, size);
}

static void seg_wait_open(seg_t *s, const char *name, size_t min_size) {
  snprintf(s->name, sizeof s->name, "%s", name);
  s->p = NULL;
  s->size = 0;
  for (int i = 0; i < 2000; i++) { /* 10 s */
    s->fd = shm_open(name, O_RDWR, 0);
    if (s->fd >= 0) {
      seg_sync(s);
      if (s->size >= min_size) return;
      if (s->p) munmap(s->p, s->size);
      s->p = NULL;
      s->size = 0;
      close(s->fd);
    } else if (errno != ENOENT) {
      die("shm_open", name);
    }
    usleep(5000);
  }
  fprintf(stderr, "peer: timeout waiting for %s\n", name);
  exit(3);
}

static sem_t *sem_get(const char *name) {
  sem_t *s = sem_open(name, O_CREAT, 0600, 0);
  if (s == SEM_FAILED) die("sem_open", name);
  return s;
}

static void sem_take(sem_t *s, const char *what) {
  uint64_t start = now_ns();
  for (int i = 0;; i++) {
    if (sem_trywait(s) == 0) return;
    if ((i & 63) == 0 && now_ns() - start > 100000) break;
  }
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  t.tv_sec += 10;
  while (sem_timedwait(s, &t) != 0) {
    if (errno == EINTR) continue;
    if (errno == ETIMEDOUT) {
      fprintf(stderr, "peer: timeout waiting for %s\n", what);
      exit(3);
    }
    die("sem_timedwait", what);
  }
}

typedef struct {
  char c[256];
  seg_t head, data;
  sem_t *req, *res;
  char names[4][300];
} chan_t;

static void chan_names(chan_t *ch, const char *channel) {
  snprintf(ch->c, sizeof ch->c, "%s", channel);
  for (char *p = ch->c; *p; p++)
    if (*p == '/') *p = '_';
  snprintf(ch->names[0], 300, "/SEM_%s_REQ", ch->c);
  snprintf(ch->names[1], 300, "/SEM_%s_RES", ch->c);
  snprintf(ch->names[2], 300, "/SEG_%s_HEAD", ch->c);
  snprintf(ch->names[3], 300, "/SEG_%s_DATA", ch->c);
}

static void server_open(chan_t *ch, const char *channel) {
  chan_names(ch, channel);
  ch->req = sem_get(ch->names[0]);
  ch->res = sem_get(ch->names[1]);
  while (sem_trywait(ch->req) == 0) {} /* drain counts a crashed run left */
  while (sem_trywait(ch->res) == 0) {}
  seg_create(&ch->head, ch->names[2], 32);
  seg_create(&ch->data, ch->names[3], 65536);
}

static void server_close(chan_t *ch) {
  sem_close(ch->req);
  sem_close(ch->res);
  sem_unlink(ch->names[0]);
  sem_unlink(ch->names[1]);
  munmap(ch->head.p, ch->head.size);
  munmap(ch->data.p, ch->data.size);
  close(ch->head.fd);
  close(ch->data.fd);
  shm_unlink(ch->names[2]);
  shm_unlink(ch->names[3]);
}

static void client_open(chan_t *ch, const char *channel) {
  chan_names(ch, channel);
  ch->req = sem_get(ch->names[0]);
  ch->res = sem_get(ch->names[1]);
  seg_wait_open(&ch->head, ch->names[2], 32);
  seg_wait_open(&ch->data, ch->names[3], 0);
}

static void client_close(chan_t *ch) {
  sem_close(ch->req);
  sem_close(ch->res);
  munmap(ch->head.p, ch->head.size);
  if (ch->data.p) munmap(ch->data.p, ch->data.size);
  close(ch->head.fd);
  close(ch->data.fd);
}

static uint64_t *words(chan_t *ch) { return (uint64_t *)ch->head.p; }

static void post_request(chan_t *ch, const char *name) {
  size_t n = strlen(name);
  seg_grow(&ch->data, n);
  memcpy(ch->data.p, name, n);
  words(ch)[0] = n;
  sem_post(ch->req);
}

static void request(chan_t *ch, const char *name) {
  post_request(ch, name);
  sem_take(ch->res, ch->names[1]);
}

/* Checks a response; returns its length, or -1 (bad, printed) or -2 (an error answer). */
static int64_t check_response(chan_t *ch) {
  uint64_t *w = words(ch), len = w[0], wd = w[1], ht = w[2], c = w[3], prod;
  if (len == 0 && wd == 0 && ht == 0 && c == 0) return -2;
  seg_sync(&ch->data);
  if (c < 1 || c > 4 || wd < 1 || ht < 1 || __builtin_mul_overflow(wd, ht, &prod) ||
      __builtin_mul_overflow(prod, c, &prod) || prod != len || len > ch->data.size) {
    fprintf(stderr, "peer: bad response: length %" PRIu64 ", %" PRIu64 " x %" PRIu64 " x %" PRIu64
            ", data segment %zu\n", len, wd, ht, c, ch->data.size);
    return -1;
  }
  return (int64_t)len;
}

static int run_server(const char *channel, int rounds, char *list, const char *outdir) {
  char *names[256];
  int count = 0;
  for (char *t = strtok(list, ","); t && count < 256; t = strtok(NULL, ",")) names[count++] = t;
  if (count == 0) return 2;
  chan_t ch;
  server_open(&ch, channel);
  int bad = 0;
  for (int i = 0; i < rounds; i++) {
    const char *name = names[i % count];
    request(&ch, name);
    int64_t len = check_response(&ch);
    if (len == -2) printf("%d %s error\n", i, name);
    if (len == -1) bad++;
    if (len < 0) continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%d_%s.raw", outdir, i, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(ch.data.p, 1, (size_t)len, f) != (size_t)len) die("fopen/fwrite", path);
    fclose(f);
    uint64_t *w = words(&ch);
    printf("%d %s %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRId64 "\n", i, name, w[1], w[2], w[3], len);
    fflush(stdout);
  }
  server_close(&ch);
  return bad ? 4 : 0;
}

static int run_client(const char *channel, int rounds) {
  chan_t ch;
  client_open(&ch, channel);
  for (int i = 0; i < rounds; i++) {
    sem_take(ch.req, ch.names[0]);
    uint64_t *w = words(&ch), n = w[0];
    seg_sync(&ch.data);
    char name[256] = "";
    unsigned long long wd = 0, ht = 0, c = 0;
    char extra;
    int ok = n < sizeof name && n <= ch.data.size;
    if (ok) {
      memcpy(name, ch.data.p, n);
      name[n] = 0;
      ok = sscanf(name, "%llux%llux%llu%c", &wd, &ht, &c, &extra) == 3 && wd >= 1 && ht >= 1 &&
           c >= 1 && c <= 4 && wd * ht * c <= (1ull << 30);
    }
    if (!ok) {
      w[0] = w[1] = w[2] = w[3] = 0;
      printf("%s error\n", name);
    } else {
      uint64_t len = wd * ht * c;
      seg_grow(&ch.data, len);
      for (uint64_t k = 0; k < len; k++) ch.data.p[k] = (uint8_t)((k * 7 + wd + 3 * ht + 11 * c) & 0xff);
      w = words(&ch);
      w[0] = len;
      w[1] = wd;
      w[2] = ht;
      w[3] = c;
      printf("%s %" PRIu64 "\n", name, len);
    }
    fflush(stdout);
    sem_post(ch.res);
  }
  client_close(&ch);
  return 0;
}

/* Where the zero-copy mode's reads end up. Without it, -O2 removed the whole read loop (its sum
 * was never used), and the C pair's zero-copy figures measured no reading at all. */
static volatile uint64_t bench_sink;

static void *grow_buffer(void *p, size_t *capacity, size_t size) {
  if (size <= *capacity) return p;
  p = realloc(p, size);
  if (!p) {
    fprintf(stderr, "peer: out of memory (%zu bytes)\n", size);
    exit(1);
  }
  *capacity = size;
  return p;
}

static int run_bench_server(const char *channel, int copy) {
  chan_t ch;
  server_open(&ch, channel);
  uint8_t *mine = NULL;
  uint64_t *t = NULL, sink = 0;
  size_t mine_size = 0, t_size = 0;
  unsigned long long bytes, rounds;
  char line[64];
  while (fgets(line, sizeof line, stdin) && sscanf(line, "%llu %llu", &bytes, &rounds) == 2) {
    char name[32];
    snprintf(name, sizeof name, "%llu", bytes);
    mine = grow_buffer(mine, &mine_size, bytes ? bytes : 1);
    t = grow_buffer(t, &t_size, sizeof *t * (rounds ? rounds : 1));
    for (unsigned long long i = 0; i < rounds; i++) {
      uint64_t start = now_ns();
      request(&ch, name);
      int64_t len = check_response(&ch);
      if (len < 0) return 4;
      if (copy) memcpy(mine, ch.data.p, (size_t)len);
      else
        for (int64_t k = 0; k < len; k += 64) sink += ch.data.p[k];
      t[i] = now_ns() - start;
    }
    for (unsigned long long i = 0; i < rounds; i++) printf("%" PRIu64 "\n", t[i]);
    fflush(stdout);
  }
  post_request(&ch, "0"); /* the client's cue to stop */
  server_close(&ch);
  bench_sink = sink; /* a volatile store: the compiler must keep the reads that made it */
  free(mine);
  free(t);
  return 0;
}

static int run_bench_client(const char *channel, int copy) {
  chan_t ch;
  client_open(&ch, channel);
  uint8_t *own = NULL;
  size_t own_size = 0;
  for (unsigned round = 0;; round++) {
    sem_take(ch.req, ch.names[0]);
    uint64_t *w = words(&ch), n = w[0];
    seg_sync(&ch.data);
    char name[32] = "";
    if (n < sizeof name && n <= ch.data.size) memcpy(name, ch.data.p, n);
    size_t len = strtoull(name, NULL, 10);
    if (len == 0) break;
    seg_grow(&ch.data, len);
    if (copy) {
      if (own_size < len) {
        own = grow_buffer(own, &own_size, len);
        memset(own, 0x5a, len);
      }
      memcpy(ch.data.p, own, len);
    } else {
      memset(ch.data.p, round & 0xff, len);
    }
    w = words(&ch);
    w[0] = len;
    w[1] = len;
    w[2] = 1;
    w[3] = 1;
    sem_post(ch.res);
  }
  client_close(&ch);
  free(own);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 6 && strcmp(argv[1], "server") == 0)
    return run_server(argv[2], atoi(argv[3]), argv[4], argv[5]);
  if (argc >= 4 && strcmp(argv[1], "client") == 0) return run_client(argv[2], atoi(argv[3]));
  if (argc >= 4 && strcmp(argv[1], "bench-server") == 0)
    return run_bench_server(argv[2], strcmp(argv[3], "copy") == 0);
  if (argc >= 4 && strcmp(argv[1], "bench-client") == 0)
    return run_bench_client(argv[2], strcmp(argv[3], "copy") == 0);
  fprintf(stderr, "usage: see the comment at the top of tests/peer.c\n");
  return 2;
}
