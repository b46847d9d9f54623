/*
 * peer.c: a peer that behaves as the C++ program this project grew from does, size for size,
 * for the interoperability tests and the C pair of the benchmark. It speaks only the plain
 * protocol: the first 32 bytes of the header, nothing of the extensions.
 *
 * Channel C: semaphores /SEM_C_REQ (server posts: request ready) and /SEM_C_RES (client posts:
 * response ready), segments /SEG_C_HEAD (header) and /SEG_C_DATA (data). As the original:
 * - both sides open the semaphores with O_CREAT, mode 0777, value 0;
 * - the server opens both segments with O_CREAT (mode 0777) and makes each 1 byte;
 * - every segment grows (ftruncate) only to what the message at hand needs, never shrinks: the
 *   server's request makes the header 8 bytes and the data segment as long as the name; the
 *   client's answer makes the header 32 bytes and the data segment as long as the pixels;
 * - the client polls for the two segments, then answers requests until it is killed;
 * - the server removes all four objects when it is done.
 * Request: header word 0 = n, data[0, n) = the name. Response: words 0..3 = length, width,
 * height, channels; data = the pixels; length = width * height * channels. An error answer is
 * four zero words.
 *
 *   peer server CHANNEL ROUNDS NAME[,NAME...] OUTDIR   asks NAMES in turn; writes OUTDIR/I_NAME.raw
 *                                                      and prints "I NAME W H C LEN" or "I NAME error"
 *   peer client CHANNEL                                answers until killed: a name "WxHxC" gets
 *                                                      byte k = (k*7 + w + 3h + 11c) & 0xff; any other
 *                                                      name an error answer; prints "NAME LEN"
 *   peer bench-server CHANNEL copy|zero   reads lines "BYTES ROUNDS" on stdin; for each, times
 *                                         ROUNDS exchanges of BYTES and prints each one's
 *                                         nanoseconds, a line each; at the end of its input, asks
 *                                         for 0 bytes (the client's cue to stop) and exits
 *   peer bench-client CHANNEL copy|zero   answers requests for BYTES (the name, in decimal) with
 *                                         BYTES bytes, until one asks for 0
 *
 * The only departures from the original, for the tests' sake: a server gives up waiting for an
 * answer after 20 s (exit 3) instead of waiting for ever, and waits spin on sem_trywait for up to
 * 100 us before they block (the benchmark's C pair is timed like the Deno side).
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

/* Grows the segment to `size` if it is smaller (never shrinks), as the original does. */
static void seg_grow(seg_t *s, size_t size) {
  seg_sync(s);
  if (size <= s->size) return;
  if (ftruncate(s->fd, (off_t)size) != 0) die("ftruncate", s->name);
  seg_sync(s);
}

/* The original server: open or create, then make it 1 byte. */
static void seg_create(seg_t *s, const char *name) {
  snprintf(s->name, sizeof s->name, "%s", name);
  s->fd = shm_open(name, O_RDWR | O_CREAT, 0777);
  if (s->fd < 0) die("shm_open", name);
  if (ftruncate(s->fd, 1) != 0) die("ftruncate", name);
  s->p = NULL;
  s->size = 0;
  seg_sync(s);
}

/* The original client: poll until the server has made it. */
static void seg_wait_open(seg_t *s, const char *name) {
  snprintf(s->name, sizeof s->name, "%s", name);
  s->p = NULL;
  s->size = 0;
  for (;;) {
    s->fd = shm_open(name, O_RDWR, 0);
    if (s->fd >= 0) break;
    if (errno != ENOENT) die("shm_open", name);
    usleep(5000);
  }
  seg_sync(s);
}

static sem_t *sem_get(const char *name) {
  sem_t *s = sem_open(name, O_CREAT, 0777, 0);
  if (s == SEM_FAILED) die("sem_open", name);
  return s;
}

/* Spins up to 100 us, then blocks: for ever, or for `seconds` (then exit 3). */
static void sem_take(sem_t *s, const char *what, int seconds) {
  uint64_t start = now_ns();
  for (int i = 0;; i++) {
    if (sem_trywait(s) == 0) return;
    if ((i & 63) == 0 && now_ns() - start > 100000) break;
  }
  if (seconds == 0) {
    while (sem_wait(s) != 0)
      if (errno != EINTR) die("sem_wait", what);
    return;
  }
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  t.tv_sec += seconds;
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
  seg_create(&ch->head, ch->names[2]);
  seg_create(&ch->data, ch->names[3]);
}

static void server_close(chan_t *ch) {
  sem_close(ch->req);
  sem_close(ch->res);
  sem_unlink(ch->names[0]);
  sem_unlink(ch->names[1]);
  if (ch->head.p) munmap(ch->head.p, ch->head.size);
  if (ch->data.p) munmap(ch->data.p, ch->data.size);
  close(ch->head.fd);
  close(ch->data.fd);
  shm_unlink(ch->names[2]);
  shm_unlink(ch->names[3]);
}

static void client_open(chan_t *ch, const char *channel) {
  chan_names(ch, channel);
  ch->req = sem_get(ch->names[0]);
  ch->res = sem_get(ch->names[1]);
  seg_wait_open(&ch->head, ch->names[2]);
  seg_wait_open(&ch->data, ch->names[3]);
}

static void client_close(chan_t *ch) {
  sem_close(ch->req);
  sem_close(ch->res);
  if (ch->head.p) munmap(ch->head.p, ch->head.size);
  if (ch->data.p) munmap(ch->data.p, ch->data.size);
  close(ch->head.fd);
  close(ch->data.fd);
}

static uint64_t *words(chan_t *ch) { return (uint64_t *)ch->head.p; }

/* The server's request: the header grows to 8 bytes, the data segment to the name. */
static void post_request(chan_t *ch, const char *name) {
  size_t n = strlen(name);
  seg_grow(&ch->head, 8);
  seg_grow(&ch->data, n);
  memcpy(ch->data.p, name, n);
  words(ch)[0] = n;
  sem_post(ch->req);
}

static void request(chan_t *ch, const char *name) {
  post_request(ch, name);
  sem_take(ch->res, ch->names[1], 20);
}

/* Checks a response; returns its length, or -1 (bad, printed) or -2 (an error answer). */
static int64_t check_response(chan_t *ch) {
  seg_sync(&ch->head);
  seg_sync(&ch->data);
  if (ch->head.size < 32) {
    fprintf(stderr, "peer: bad response: the header is %zu bytes\n", ch->head.size);
    return -1;
  }
  uint64_t *w = words(ch), len = w[0], wd = w[1], ht = w[2], c = w[3], prod;
  if (len == 0 && wd == 0 && ht == 0 && c == 0) return -2;
  if (c < 1 || c > 4 || wd < 1 || ht < 1 || __builtin_mul_overflow(wd, ht, &prod) ||
      __builtin_mul_overflow(prod, c, &prod) || prod != len || len > ch->data.size) {
    fprintf(stderr, "peer: bad response: length %" PRIu64 ", %" PRIu64 " x %" PRIu64 " x %" PRIu64
            ", data segment %zu\n", len, wd, ht, c, ch->data.size);
    return -1;
  }
  return (int64_t)len;
}

/* The client's answer: the header grows to 32 bytes, the data segment to the pixels. */
static void post_response(chan_t *ch, uint64_t len, uint64_t wd, uint64_t ht, uint64_t c) {
  seg_grow(&ch->head, 32);
  uint64_t *w = words(ch);
  w[0] = len;
  w[1] = wd;
  w[2] = ht;
  w[3] = c;
  sem_post(ch->res);
}

/* The request's name (up to `cap - 1` bytes), or "" if it does not fit the segments. */
static size_t read_request(chan_t *ch, char *name, size_t cap) {
  seg_sync(&ch->head);
  seg_sync(&ch->data);
  name[0] = 0;
  if (ch->head.size < 8) return 0;
  uint64_t n = words(ch)[0];
  if (n >= cap || n > ch->data.size) return 0;
  memcpy(name, ch->data.p, n);
  name[n] = 0;
  return n;
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

static _Noreturn void run_client(const char *channel) {
  chan_t ch;
  client_open(&ch, channel);
  for (;;) {
    sem_take(ch.req, ch.names[0], 0);
    char name[256];
    read_request(&ch, name, sizeof name);
    unsigned long long wd = 0, ht = 0, c = 0;
    char extra;
    int ok = sscanf(name, "%llux%llux%llu%c", &wd, &ht, &c, &extra) == 3 && wd >= 1 && ht >= 1 &&
             c >= 1 && c <= 4 && wd * ht * c <= (1ull << 30);
    if (!ok) {
      post_response(&ch, 0, 0, 0, 0);
      printf("%s error\n", name);
    } else {
      uint64_t len = wd * ht * c;
      seg_grow(&ch.data, len);
      for (uint64_t k = 0; k < len; k++) ch.data.p[k] = (uint8_t)((k * 7 + wd + 3 * ht + 11 * c) & 0xff);
      post_response(&ch, len, wd, ht, c);
      printf("%s %" PRIu64 "\n", name, len);
    }
    fflush(stdout);
  }
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
    sem_take(ch.req, ch.names[0], 20);
    char name[32];
    read_request(&ch, name, sizeof name);
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
    post_response(&ch, len, len, 1, 1);
  }
  client_close(&ch);
  free(own);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 6 && strcmp(argv[1], "server") == 0)
    return run_server(argv[2], atoi(argv[3]), argv[4], argv[5]);
  if (argc >= 3 && strcmp(argv[1], "client") == 0) run_client(argv[2]);
  if (argc >= 4 && strcmp(argv[1], "bench-server") == 0)
    return run_bench_server(argv[2], strcmp(argv[3], "copy") == 0);
  if (argc >= 4 && strcmp(argv[1], "bench-client") == 0)
    return run_bench_client(argv[2], strcmp(argv[3], "copy") == 0);
  fprintf(stderr, "usage: see the comment at the top of tests/peer.c\n");
  return 2;
}
