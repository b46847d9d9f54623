/*
 * peer.c: a peer that behaves as the C++ program this project grew from does (github
 * ahota/shmemaphore, src/shmem.h, src/sem.h, src/shmemaphore.h), size for size, for the
 * interoperability tests and the C pair of the benchmark. It speaks only the plain protocol: the
 * first 32 bytes of the header, nothing of the extensions.
 *
 * Channel C: semaphores /SEM_C_REQ (server posts: request ready) and /SEM_C_RES (client posts:
 * response ready), segments /SEG_C_HEAD (header) and /SEG_C_DATA (data). As the original:
 * - both sides open the semaphores with O_CREAT, mode 0777, value 0;
 * - the server removes each segment's name, then opens it with O_CREAT (mode 0777) and makes it
 *   1 byte; the client polls until both names are there;
 * - each process keeps its own idea of each segment's size, `size`, starting at 1 on both sides,
 *   and never looks at the object's real size. To read or write `length` bytes it calls
 *   seg_map(length), which is the original's SharedMemorySegment::map: if length >= size, then
 *   size = length and ftruncate(fd, length) (so it SHRINKS a segment the other side grew);
 *   then it maps `size` bytes. The calls, as the original makes them:
 *     server, a request:  header seg_map(8) (word 0 = n), data seg_map(n) (the name), post REQ;
 *     server, the answer: wait RES, header seg_map(32) (words 0..3), data seg_map(length);
 *     client, a request:  wait REQ, header seg_map(8), data seg_map(n);
 *     client, its answer: header seg_map(32) (ftruncate every time: 32 >= 32), data
 *                         seg_map(length) (the pixels), post RES;
 * - when it is done, each side closes and removes all four objects, the client too (the
 *   original's destructors do).
 * Request: header word 0 = n, data[0, n) = the name. Response: words 0..3 = length, width,
 * height, channels; data = the pixels; length = width * height * channels. An error answer is
 * four zero words.
 *
 *   peer server CHANNEL ROUNDS NAME[,NAME...] OUTDIR   asks NAMES in turn; writes OUTDIR/I_NAME.raw
 *                                                      and prints "I NAME W H C LEN" or "I NAME error"
 *   peer client CHANNEL [ROUNDS]          answers requests: a name "WxHxC" gets byte
 *                                         k = (k*7 + w + 3h + 11c) & 0xff, any other name an error
 *                                         answer; prints "NAME LEN". Until it is killed, or after
 *                                         ROUNDS answers exits as the original does (removing the
 *                                         channel's four objects)
 *   peer sizes ...                        as server or client (the word after "sizes"), and before
 *                                         each step prints what fstat says of both segments:
 *                                         "STEP HEAD_SIZE DATA_SIZE", on stderr
 *   peer bench-server CHANNEL copy|zero   reads lines "BYTES ROUNDS" on stdin; for each, times
 *                                         ROUNDS exchanges of BYTES and prints each one's
 *                                         nanoseconds, a line each; at the end of its input, asks
 *                                         for 0 bytes (the client's cue to stop) and exits
 *   peer bench-client CHANNEL copy|zero   answers requests for BYTES (the name, in decimal) with
 *                                         BYTES bytes, until one asks for 0
 *   peer ring-write NAME ID COUNT SIZES   writes COUNT messages into ring NAME (lib/ring/layout.ts)
 *                                         as tests/_ring_peer.ts's writer does, then closes
 *   peer ring-read NAME SLOTS SLOT_SIZE WRITERS   makes ring NAME and reads it to its end, checking
 *                                         every message; prints what it got, as _ring_peer.ts
 *   peer spsc COUNT SIZE                  a plain C SPSC ring between two processes (the limit the
 *                                         bench shows beside the ring): prints messages a second
 *
 * The only departures from the original, none of them about sizes, for the tests' sake: a server
 * gives up waiting for an answer after 20 s (exit 3) instead of waiting for ever; waits spin on
 * sem_trywait for up to 100 us before they block (the benchmark's C pair is timed like the Deno
 * side); a mapping is kept while `size` stays the same and unmapped before another is made (the
 * original maps again on every call and never unmaps what getData mapped); a server checks that an
 * answer adds up (1 <= channels <= 4, width x height x channels = length) before it maps its
 * length (the original would map any length it is told); the client's error answer (the original
 * has none: it crashes on a name it cannot load).
 * Build: cc -O2 -Wall -Wextra -o peer tests/peer.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <signal.h>
#include <sys/prctl.h>
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

/* A segment as the original's SharedMemorySegment: `size` is this process's idea of its size
 * (1 at first), never the object's; `p` maps `mapped` bytes (the `size` it was mapped at). */
typedef struct {
  char name[300];
  int fd;
  size_t size;
  uint8_t *p;
  size_t mapped;
} seg_t;

/* The original's map(length): grow or SHRINK the object to `length` when `length >= size` (and
 * keep it as `size`), then map `size` bytes. */
static uint8_t *seg_map(seg_t *s, size_t length) {
  if (length >= s->size) {
    s->size = length;
    if (ftruncate(s->fd, (off_t)length) != 0) die("ftruncate", s->name);
  }
  if (s->p && s->mapped == s->size) return s->p;
  if (s->p) munmap(s->p, s->mapped);
  s->p = mmap(NULL, s->size, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
  if (s->p == MAP_FAILED) die("mmap", s->name);
  s->mapped = s->size;
  return s->p;
}

/* The original server: remove the name, open it with O_CREAT, make it 1 byte. */
static void seg_create(seg_t *s, const char *name) {
  snprintf(s->name, sizeof s->name, "%s", name);
  shm_unlink(name);
  s->fd = shm_open(name, O_RDWR | O_CREAT, 0777);
  if (s->fd < 0) die("shm_open", name);
  if (ftruncate(s->fd, 1) != 0) die("ftruncate", name);
  s->size = 1;
  s->p = NULL;
  s->mapped = 0;
}

/* The original client: poll until the server has made it; `size` starts at 1 all the same. */
static void seg_wait_open(seg_t *s, const char *name) {
  snprintf(s->name, sizeof s->name, "%s", name);
  for (;;) {
    s->fd = shm_open(name, O_RDWR, 0777);
    if (s->fd >= 0) break;
    if (errno != ENOENT) die("shm_open", name);
    usleep(5000);
  }
  s->size = 1;
  s->p = NULL;
  s->mapped = 0;
}

static void seg_close(seg_t *s) {
  if (s->p) munmap(s->p, s->mapped);
  close(s->fd);
  shm_unlink(s->name);
}

static sem_t *sem_get(const char *name) {
  sem_t *s = sem_open(name, O_CREAT, 0777, 0);
  if (s == SEM_FAILED) die("sem_open", name);
  return s;
}

/* Spins up to 100 us, then blocks: for ever, or for `seconds` (× 10 under emulation; then exit 3). */
static void sem_take(sem_t *s, const char *what, int seconds) {
  const char *emulated = getenv("SHMEMAPHORE_EMULATOR"); /* under qemu: everything is slower */
  if (emulated && *emulated) seconds *= 10;
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

/* With `peer sizes ...`: what fstat says of both segments before each step, on stderr. */
static int show_sizes;

static void sizes(chan_t *ch, const char *step) {
  if (!show_sizes) return;
  struct stat h, d;
  if (fstat(ch->head.fd, &h) != 0 || fstat(ch->data.fd, &d) != 0) die("fstat", ch->c);
  fprintf(stderr, "%s %lld %lld\n", step, (long long)h.st_size, (long long)d.st_size);
}

static void chan_names(chan_t *ch, const char *channel) {
  snprintf(ch->c, sizeof ch->c, "%s", channel);
  for (char *p = ch->c; *p; p++)
    if (*p == '/') *p = '_';
  snprintf(ch->names[0], 300, "/SEM_%s_REQ", ch->c);
  snprintf(ch->names[1], 300, "/SEM_%s_RES", ch->c);
  snprintf(ch->names[2], 300, "/SEG_%s_HEAD", ch->c);
  snprintf(ch->names[3], 300, "/SEG_%s_DATA", ch->c);
}

/* The original's Shmemaphore(name, owner): the semaphores, then the segments. */
static void server_open(chan_t *ch, const char *channel) {
  chan_names(ch, channel);
  ch->req = sem_get(ch->names[0]);
  ch->res = sem_get(ch->names[1]);
  seg_create(&ch->head, ch->names[2]);
  seg_create(&ch->data, ch->names[3]);
}

static void client_open(chan_t *ch, const char *channel) {
  chan_names(ch, channel);
  ch->req = sem_get(ch->names[0]);
  ch->res = sem_get(ch->names[1]);
  seg_wait_open(&ch->head, ch->names[2]);
  seg_wait_open(&ch->data, ch->names[3]);
}

/* The original's destructors, on either side: segments closed and removed, then semaphores. */
static void chan_close(chan_t *ch) {
  seg_close(&ch->data);
  seg_close(&ch->head);
  sem_close(ch->res);
  sem_close(ch->req);
  sem_unlink(ch->names[1]);
  sem_unlink(ch->names[0]);
}

static uint64_t *words(chan_t *ch) { return (uint64_t *)ch->head.p; }

/* The server's request (sendString): header seg_map(8) with n, data seg_map(n) with the name. */
static void post_request(chan_t *ch, const char *name) {
  uint64_t n = strlen(name);
  sizes(ch, "server-request");
  memcpy(seg_map(&ch->head, sizeof n), &n, sizeof n);
  memcpy(seg_map(&ch->data, n), name, n);
  sem_post(ch->req);
}

static void request(chan_t *ch, const char *name) {
  post_request(ch, name);
  sem_take(ch->res, ch->names[1], 20);
}

/* The server reads the answer: header seg_map(32), then, if it adds up, data seg_map(length).
 * Returns its length, or -1 (bad, printed) or -2 (an error answer). */
static int64_t check_response(chan_t *ch) {
  sizes(ch, "server-answer");
  uint64_t w[4], prod;
  memcpy(w, seg_map(&ch->head, sizeof w), sizeof w);
  uint64_t len = w[0], wd = w[1], ht = w[2], c = w[3];
  if (len == 0 && wd == 0 && ht == 0 && c == 0) return -2;
  if (c < 1 || c > 4 || wd < 1 || ht < 1 || __builtin_mul_overflow(wd, ht, &prod) ||
      __builtin_mul_overflow(prod, c, &prod) || prod != len || len > (1ull << 32)) {
    fprintf(stderr, "peer: bad response: length %" PRIu64 ", %" PRIu64 " x %" PRIu64 " x %" PRIu64
            "\n", len, wd, ht, c);
    return -1;
  }
  seg_map(&ch->data, (size_t)len);
  sizes(ch, "server-read");
  return (int64_t)len;
}

/* The client reads a request: header seg_map(8), data seg_map(n). Returns the name (up to
 * `cap - 1` bytes; "" if it is longer). */
static size_t read_request(chan_t *ch, char *name, size_t cap) {
  sizes(ch, "client-request");
  uint64_t n;
  memcpy(&n, seg_map(&ch->head, sizeof n), sizeof n);
  name[0] = 0;
  if (n >= cap) return 0;
  memcpy(name, seg_map(&ch->data, (size_t)n), (size_t)n);
  name[n] = 0;
  sizes(ch, "client-read");
  return (size_t)n;
}

/* An answer in the original's order: setHeader (header seg_map(32)), setData (data
 * seg_map(len), filled by `fill`), post RES. */
static void answer(chan_t *ch, uint64_t len, uint64_t wd, uint64_t ht, uint64_t c,
                   void (*fill)(uint8_t *, uint64_t, void *), void *arg) {
  uint64_t w[4] = {len, wd, ht, c};
  memcpy(seg_map(&ch->head, sizeof w), w, sizeof w);
  if (len) fill(seg_map(&ch->data, (size_t)len), len, arg);
  sizes(ch, "client-answer");
  sem_post(ch->res);
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
  chan_close(&ch);
  return bad ? 4 : 0;
}

/* byte k = (k*7 + w + 3h + 11c) & 0xff, for "WxHxC" (arg: the three numbers). */
static void generate(uint8_t *p, uint64_t len, void *arg) {
  const unsigned long long *d = arg;
  for (uint64_t k = 0; k < len; k++) p[k] = (uint8_t)((k * 7 + d[0] + 3 * d[1] + 11 * d[2]) & 0xff);
}

static int run_client(const char *channel, int rounds) {
  chan_t ch;
  client_open(&ch, channel);
  for (int i = 0; rounds <= 0 || i < rounds; i++) {
    sem_take(ch.req, ch.names[0], 0);
    char name[256];
    read_request(&ch, name, sizeof name);
    unsigned long long d[3] = {0, 0, 0};
    char extra;
    int ok = sscanf(name, "%llux%llux%llu%c", &d[0], &d[1], &d[2], &extra) == 3 && d[0] >= 1 &&
             d[1] >= 1 && d[2] >= 1 && d[2] <= 4 && d[0] * d[1] * d[2] <= (1ull << 30);
    if (!ok) {
      answer(&ch, 0, 0, 0, 0, generate, d);
      printf("%s error\n", name);
    } else {
      uint64_t len = d[0] * d[1] * d[2];
      answer(&ch, len, d[0], d[1], d[2], generate, d);
      printf("%s %" PRIu64 "\n", name, len);
    }
    fflush(stdout);
  }
  chan_close(&ch);
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
  chan_close(&ch);
  bench_sink = sink; /* a volatile store: the compiler must keep the reads that made it */
  free(mine);
  free(t);
  return 0;
}

/* The bench client's answer bytes: a copy of its own buffer (arg), or a fill in place (zero). */
static void bench_fill(uint8_t *p, uint64_t len, void *arg) {
  const uint8_t *own = *(const uint8_t **)arg;
  if (own) memcpy(p, own, (size_t)len);
  else memset(p, 0x5a, (size_t)len);
}

static int run_bench_client(const char *channel, int copy) {
  /* It waits between blocks for as long as the benchmark runs the other transports' (no fixed
   * wait a long series on a slow machine can outlast), and goes with the benchmark if that dies. */
  pid_t parent = getppid();
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) return 3; /* it died already */
  chan_t ch;
  client_open(&ch, channel);
  uint8_t *own = NULL;
  size_t own_size = 0;
  for (;;) {
    sem_take(ch.req, ch.names[0], 0);
    char name[32];
    read_request(&ch, name, sizeof name);
    size_t len = strtoull(name, NULL, 10);
    if (len == 0) break;
    if (copy && own_size < len) {
      own = grow_buffer(own, &own_size, len);
      memset(own, 0x5a, len);
    }
    const uint8_t *source = copy ? own : NULL;
    answer(&ch, len, len, 1, 1, bench_fill, &source);
  }
  /* Not chan_close: the bench server removes the channel (the original client would too). */
  free(own);
  return 0;
}

/* ---- The ring (lib/ring/layout.ts): a C reader and writer ---------------------------------- */

enum { R_MAGIC = 0x4e524853, R_VERSION = 2, R_LANES = 8, R_SLOTS = 12, R_SLOT_SIZE = 16,
       R_READER_PID = 20, R_STATE = 24, R_READER_SLEEPING = 28, R_WRITERS_SLEEPING = 32,
       R_CLAIMS = 36, R_LANE_TABLE = 256, R_LANE_ENTRY = 128, R_DATA = 4096 };
enum { L_STATE = 0, L_PID = 4, L_GENERATION = 8, L_PENDING = 12, L_TAIL = 16, L_HEAD = 64, L_WAITING = 68 };
enum { F_FIRST = 1, F_LAST = 2, F_PAD = 4, F_RESTART = 8, REC = 24 };
/* A record's header: LENGTH u32, FLAGS u32, POSITION u32, GENERATION u32, TOTAL u64. */
static void put_record(uint8_t *at, uint32_t len, uint32_t flags, uint32_t position, uint32_t gen,
                       uint64_t total) {
  memcpy(at, &len, 4), memcpy(at + 4, &flags, 4), memcpy(at + 8, &position, 4);
  memcpy(at + 12, &gen, 4), memcpy(at + 16, &total, 8);
}

typedef struct {
  char name[300], readable[310], writable[310];
  int fd;
  uint8_t *p;
  size_t size;
  uint32_t lanes, slots, slot_size;
  sem_t *rd, *wr;
} ring_t;

static _Atomic uint32_t *field(ring_t *r, size_t offset) { return (_Atomic uint32_t *)(r->p + offset); }
static _Atomic uint32_t *lane_field(ring_t *r, uint32_t lane, size_t f) {
  return field(r, R_LANE_TABLE + (size_t)lane * R_LANE_ENTRY + f);
}
static uint8_t *lane_bytes(ring_t *r, uint32_t lane) {
  return r->p + R_DATA + (size_t)lane * r->slots * r->slot_size;
}
static uint32_t used_slots(uint32_t tail, uint32_t head, uint32_t slots) {
  return (tail + 2 * slots - head) % (2 * slots);
}

/* An OFD lock on byte `byte`: F_OFD_SETLK (take), or F_OFD_GETLK: 1 if another open file holds
 * it exclusively (an owner: a shared lock there is only someone who may read the file). */
static int ofd(int fd, int cmd, short type, off_t byte) {
  struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1, .l_pid = 0};
  if (fcntl(fd, cmd, &fl) != 0) return -1;
  return cmd == F_OFD_GETLK ? fl.l_type == F_WRLCK : 0;
}

static void ring_names(ring_t *r, const char *name) {
  snprintf(r->name, sizeof r->name, "%s", name);
  snprintf(r->readable, sizeof r->readable, "%s.readable", name);
  snprintf(r->writable, sizeof r->writable, "%s.writable", name);
}

static void wake_reader(ring_t *r) {
  uint32_t one = 1;
  if (atomic_compare_exchange_strong(field(r, R_READER_SLEEPING), &one, 0)) sem_post(r->rd);
}

/* The lane's writer sleeps until WAITING slots are free: once they are, take it back and wake it. */
static void wake_writer(ring_t *r, uint32_t lane) {
  uint32_t want = atomic_load(lane_field(r, lane, L_WAITING));
  if (want == 0) return;
  uint32_t tail = atomic_load(lane_field(r, lane, L_TAIL)), head = atomic_load(lane_field(r, lane, L_HEAD));
  if (r->slots - used_slots(tail, head, r->slots) < want) return;
  if (atomic_compare_exchange_strong(lane_field(r, lane, L_WAITING), &want, 0)) sem_post(r->wr);
}

/* Blocks on `s` for at most 100 ms. */
static void nap(sem_t *s) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  t.tv_nsec += 100000000;
  if (t.tv_nsec >= 1000000000) t.tv_sec++, t.tv_nsec -= 1000000000;
  while (sem_timedwait(s, &t) != 0 && errno == EINTR) {}
}

static uint32_t ring_message(uint8_t *out, uint32_t id, uint32_t k, uint32_t size) {
  memcpy(out, &id, 4);
  memcpy(out + 4, &k, 4);
  memcpy(out + 8, &size, 4);
  for (uint32_t i = 12; i < size; i++) out[i] = (uint8_t)((i * 31 + id * 7 + k * 13) & 0xff);
  return size;
}

/* peer ring-write NAME ID COUNT SIZES: as tests/_ring_peer.ts's writer. */
static int run_ring_write(const char *name, uint32_t id, int count, char *list) {
  uint32_t sizes[64];
  int nsizes = 0;
  for (char *t = strtok(list, ","); t && nsizes < 64; t = strtok(NULL, ",")) sizes[nsizes++] = (uint32_t)atoi(t);
  ring_t r;
  ring_names(&r, name);
  for (int i = 0;; i++) { /* wait for the ring, 20 s */
    r.fd = shm_open(name, O_RDWR, 0);
    if (r.fd >= 0) break;
    if (errno != ENOENT || i > 4000) die("shm_open", name);
    usleep(5000);
  }
  struct stat st;
  if (fstat(r.fd, &st) != 0) die("fstat", name);
  r.size = (size_t)st.st_size;
  r.p = mmap(NULL, r.size, PROT_READ | PROT_WRITE, MAP_SHARED, r.fd, 0);
  if (r.p == MAP_FAILED) die("mmap", name);
  r.lanes = atomic_load(field(&r, R_LANES));
  r.slots = atomic_load(field(&r, R_SLOTS));
  r.slot_size = atomic_load(field(&r, R_SLOT_SIZE));
  if (atomic_load(field(&r, 0)) != R_MAGIC || r.size < R_DATA + (size_t)r.lanes * r.slots * r.slot_size) {
    fprintf(stderr, "peer: %s is not a ring this peer can use\n", name);
    return 5;
  }
  if (ofd(r.fd, F_OFD_GETLK, F_WRLCK, 0) != 1) {
    fprintf(stderr, "peer: the reader of %s is gone\n", name);
    return 4;
  }
  r.rd = sem_open(r.readable, O_CREAT, 0600, 0);
  r.wr = sem_open(r.writable, O_CREAT, 0600, 0);
  if (r.rd == SEM_FAILED || r.wr == SEM_FAILED) die("sem_open", name);
  uint32_t lane = r.lanes;
  for (uint32_t i = 0; i < r.lanes && lane == r.lanes; i++) {
    if (ofd(r.fd, F_OFD_SETLK, F_WRLCK, 1 + i) != 0) continue;
    if (atomic_load(lane_field(&r, i, L_STATE)) != 0) {
      ofd(r.fd, F_OFD_SETLK, F_UNLCK, 1 + i);
      continue;
    }
    lane = i;
  }
  if (lane == r.lanes) {
    fprintf(stderr, "peer: no free lane in %s\n", name);
    return 3;
  }
  /* The claim: start where the reader is (TAIL = HEAD), with a generation of its own. */
  uint32_t tail = atomic_load(lane_field(&r, lane, L_HEAD));
  uint32_t position = tail; /* what records carry: from the first TAIL, counted without the modulo */
  atomic_store(lane_field(&r, lane, L_TAIL), tail);
  atomic_store(lane_field(&r, lane, L_PID), (uint32_t)getpid());
  atomic_store(lane_field(&r, lane, L_PENDING), 0);
  uint32_t gen = atomic_fetch_add(lane_field(&r, lane, L_GENERATION), 1) + 1;
  atomic_store(lane_field(&r, lane, L_STATE), 1);
  /* then say so: CLAIMS counts claims, wrapping, never back to 0 ("no writer yet") */
  if (atomic_fetch_add(field(&r, R_CLAIMS), 1) == UINT32_MAX) atomic_fetch_add(field(&r, R_CLAIMS), 1);
  printf("writing\n");
  fflush(stdout);
  uint8_t *base = lane_bytes(&r, lane);
  uint32_t piece = (r.slots / 2 ? r.slots / 2 : 1) * r.slot_size - REC;
  uint8_t *msg = NULL;
  size_t cap = 0;
  for (int k = 0; k < count; k++) {
    uint32_t size = sizes[k % nsizes];
    msg = grow_buffer(msg, &cap, size);
    ring_message(msg, id, (uint32_t)k, size);
    for (uint32_t off = 0; off < size || (size == 0 && off == 0);) {
      uint32_t len = size - off < piece ? size - off : piece;
      uint32_t need = (REC + len + r.slot_size - 1) / r.slot_size;
      for (int sleeping = 0;;) { /* room for the record (and a pad before it) */
        uint32_t head = atomic_load(lane_field(&r, lane, L_HEAD));
        uint32_t free_slots = r.slots - used_slots(tail, head, r.slots);
        uint32_t slot = tail % r.slots, pad = slot + need > r.slots ? r.slots - slot : 0;
        if (pad + need <= free_slots) {
          if (pad) {
            put_record(base + (size_t)slot * r.slot_size, 0, F_PAD, position, gen, 0);
            tail = (tail + pad) % (2 * r.slots), position += pad;
            slot = 0;
          }
          uint8_t *at = base + (size_t)slot * r.slot_size;
          uint32_t flags = (off == 0 ? F_FIRST : 0) | (off + len == size ? F_LAST : 0);
          put_record(at, len, flags, position, gen, size);
          memcpy(at + REC, msg + off, len);
          tail = (tail + need) % (2 * r.slots), position += need;
          atomic_store_explicit(lane_field(&r, lane, L_TAIL), tail, memory_order_release);
          wake_reader(&r);
          break;
        }
        if (pad && pad <= free_slots) { /* publish the pad alone, then wait for the rest */
          put_record(base + (size_t)slot * r.slot_size, 0, F_PAD, position, gen, 0);
          tail = (tail + pad) % (2 * r.slots), position += pad;
          atomic_store_explicit(lane_field(&r, lane, L_TAIL), tail, memory_order_release);
          wake_reader(&r);
          continue;
        }
        if (!sleeping) atomic_fetch_add(field(&r, R_WRITERS_SLEEPING), 1), sleeping = 1;
        atomic_store(lane_field(&r, lane, L_WAITING), 1);
        head = atomic_load(lane_field(&r, lane, L_HEAD)); /* look once more after saying so */
        if (used_slots(tail, head, r.slots) < r.slots - need - pad) {
          atomic_store(lane_field(&r, lane, L_WAITING), 0);
          continue;
        }
        nap(r.wr);
        if (ofd(r.fd, F_OFD_GETLK, F_WRLCK, 0) != 1) {
          fprintf(stderr, "peer: the reader of %s died\n", name);
          return 4;
        }
        atomic_store(lane_field(&r, lane, L_WAITING), 0);
        atomic_fetch_sub(field(&r, R_WRITERS_SLEEPING), 1), sleeping = 0;
      }
      off += len;
      if (size == 0) break;
    }
  }
  atomic_store(lane_field(&r, lane, L_STATE), 2); /* closed: the reader drains, then frees */
  wake_reader(&r);
  printf("done\n");
  free(msg);
  return 0;
}

/* peer ring-read NAME SLOTS SLOT_SIZE WRITERS: as tests/_ring_peer.ts's reader. */
static int run_ring_read(const char *name, uint32_t slots, uint32_t slot_size, uint32_t lanes) {
  ring_t r;
  ring_names(&r, name);
  r.lanes = lanes, r.slots = slots, r.slot_size = slot_size;
  r.size = R_DATA + (size_t)lanes * slots * slot_size;
  r.rd = sem_open(r.readable, O_CREAT, 0600, 0);
  r.wr = sem_open(r.writable, O_CREAT, 0600, 0);
  if (r.rd == SEM_FAILED || r.wr == SEM_FAILED) die("sem_open", name);
  char temp[320];
  snprintf(temp, sizeof temp, "%s.new.%08x%08x", name, (unsigned)getpid(), (unsigned)now_ns());
  r.fd = shm_open(temp, O_RDWR | O_CREAT | O_EXCL, 0600);
  if (r.fd < 0) die("shm_open", temp);
  if (ofd(r.fd, F_OFD_SETLK, F_WRLCK, 0) != 0) die("fcntl", temp);
  if (ftruncate(r.fd, (off_t)r.size) != 0) die("ftruncate", temp);
  r.p = mmap(NULL, r.size, PROT_READ | PROT_WRITE, MAP_SHARED, r.fd, 0);
  if (r.p == MAP_FAILED) die("mmap", temp);
  atomic_store(field(&r, 4), R_VERSION);
  atomic_store(field(&r, R_LANES), lanes);
  atomic_store(field(&r, R_SLOTS), slots);
  atomic_store(field(&r, R_SLOT_SIZE), slot_size);
  atomic_store(field(&r, R_READER_PID), (uint32_t)getpid());
  atomic_store(field(&r, 0), R_MAGIC);
  char from[340], to[320];
  snprintf(from, sizeof from, "/dev/shm%s", temp);
  snprintf(to, sizeof to, "/dev/shm%s", name);
  if (link(from, to) != 0) die("link", to); /* seen whole, or not at all */
  shm_unlink(temp);
  printf("ready\n");
  fflush(stdout);
  uint32_t heads[256] = {0}, gens[256] = {0}, next[256] = {0}, dead[256] = {0};
  uint32_t positions[256] = {0}; /* each lane's running position since its claim */
  uint8_t *assembly[256] = {0};
  uint64_t filled[256] = {0}, totals[256] = {0};
  int errors = 0, dropped = 0;
  uint64_t last_check = now_ns();
  for (;;) {
    int got = 0, busy = 0;
    for (uint32_t i = 0; i < lanes; i++) {
      uint32_t state = atomic_load(lane_field(&r, i, L_STATE));
      if (state == 0) continue;
      busy = 1;
      /* A new claim: its generation. Where the reader is stays its own (the writer starts there). */
      uint32_t gen = atomic_load(lane_field(&r, i, L_GENERATION));
      if (gen != gens[i]) gens[i] = gen, positions[i] = heads[i], free(assembly[i]), assembly[i] = NULL;
      uint8_t *base = lane_bytes(&r, i);
      for (;;) {
        uint32_t tail = atomic_load_explicit(lane_field(&r, i, L_TAIL), memory_order_acquire);
        uint32_t avail = used_slots(tail, heads[i], slots);
        if (avail == 0) {
          if (state == 2 || state == 3 || dead[i]) { /* closed, aborted, or dead */
            if (assembly[i] || atomic_load(lane_field(&r, i, L_PENDING))) dropped++;
            free(assembly[i]), assembly[i] = NULL, dead[i] = 0;
            atomic_store(lane_field(&r, i, L_PENDING), 0);
            atomic_store(lane_field(&r, i, L_STATE), 0);
          }
          break;
        }
        uint32_t slot = heads[i] % slots, len, flags, position, generation;
        uint64_t total;
        uint8_t *at = base + (size_t)slot * slot_size;
        memcpy(&len, at, 4), memcpy(&flags, at + 4, 4), memcpy(&position, at + 8, 4);
        memcpy(&generation, at + 12, 4), memcpy(&total, at + 16, 8);
        uint32_t need = flags & F_PAD ? slots - slot : (REC + len + slot_size - 1) / slot_size;
        if (position != positions[i] || generation != gens[i] || avail > slots || need > avail ||
            slot + need > slots || (!(flags & F_PAD) && len > slots * slot_size - REC) ||
            ((flags & (F_FIRST | F_LAST)) == (F_FIRST | F_LAST) && !(flags & F_PAD) && total != len)) {
          fprintf(stderr, "peer: lane %u: a record that cannot be\n", i);
          return 5;
        }
        if (flags & F_RESTART && assembly[i]) free(assembly[i]), assembly[i] = NULL, dropped++;
        if (!(flags & F_PAD)) {
          if (flags & F_FIRST) {
            assembly[i] = malloc(total ? total : 1), filled[i] = 0, totals[i] = total;
            if (!assembly[i]) die("malloc", name);
          }
          if (!assembly[i] || filled[i] + len > totals[i]) {
            fprintf(stderr, "peer: lane %u: a piece of no message\n", i);
            return 5;
          }
          memcpy(assembly[i] + filled[i], at + REC, len);
          filled[i] += len;
        }
        heads[i] = (heads[i] + need) % (2 * slots), positions[i] += need;
        atomic_store_explicit(lane_field(&r, i, L_HEAD), heads[i], memory_order_release);
        wake_writer(&r, i);
        if (!(flags & F_PAD) && (flags & F_LAST)) {
          uint8_t *m = assembly[i];
          uint32_t id, k, size;
          memcpy(&id, m, 4), memcpy(&k, m + 4, 4), memcpy(&size, m + 8, 4);
          int ok = filled[i] >= 12 && size == filled[i] && id < 256 && k == next[id];
          for (uint32_t b = 12; ok && b < size; b++) ok = m[b] == (uint8_t)((b * 31 + id * 7 + k * 13) & 0xff);
          if (!ok) errors++;
          else next[id]++;
          free(m), assembly[i] = NULL, got = 1;
        }
      }
    }
    if (got) continue;
    uint64_t t = now_ns();
    if (t - last_check > 100000000) { /* writers that died: their lanes are drained, then freed */
      last_check = t;
      for (uint32_t i = 0; i < lanes; i++)
        if (atomic_load(lane_field(&r, i, L_STATE)) == 1 && ofd(r.fd, F_OFD_GETLK, F_WRLCK, 1 + i) == 0) dead[i] = 1;
    }
    if (!busy && atomic_load(field(&r, R_CLAIMS))) break; /* the end of the stream */
    atomic_store(field(&r, R_READER_SLEEPING), 1);
    nap(r.rd);
  }
  printf("{\"got\":{");
  for (int id = 0, first = 1; id < 256; id++)
    if (next[id]) printf("%s\"%d\":%u", first ? "" : ",", id, next[id]), first = 0;
  printf("},\"dropped\":%d,\"errors\":%d}\n", dropped, errors);
  munmap(r.p, r.size);
  close(r.fd);
  shm_unlink(name);
  sem_unlink(r.readable);
  sem_unlink(r.writable);
  return errors ? 1 : 0;
}

/* ---- The limit: a plain C SPSC ring between two processes --------------------------------- */

/* peer spsc COUNT SIZE: forks a writer; COUNT messages of SIZE bytes (8 to 124) go through a
 * single-producer, single-consumer ring of 16384 slots of 128 bytes in an anonymous shared
 * mapping, both sides polling (no semaphore, no system call), each message copied in and out
 * with its length. Each side publishes its position every 64 messages (and when it must: the
 * ring full, or empty), so that the two cores do not pass a cache line to and fro for each
 * message. Prints the rate (messages a second, from the first message read to the last).
 * What the ring's batch path is measured against: the distance to what C does. */
enum { SPSC_SLOTS = 16384, SPSC_SLOT = 128, SPSC_EVERY = 64 };
typedef struct {
  _Alignas(64) _Atomic uint64_t tail; /* the writer's */
  _Alignas(64) _Atomic uint64_t head; /* the reader's */
  _Alignas(64) uint8_t slots[SPSC_SLOTS][SPSC_SLOT];
} spsc_t;

static int run_spsc(uint64_t count, uint32_t size) {
  if (size < 8 || size > SPSC_SLOT - 4) return 2;
  spsc_t *q = mmap(NULL, sizeof *q, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (q == MAP_FAILED) die("mmap", "spsc");
  pid_t child = fork();
  if (child < 0) die("fork", "spsc");
  if (child == 0) {
    uint8_t msg[SPSC_SLOT];
    memset(msg, 0x5a, sizeof msg);
    uint64_t tail = 0, head = 0;
    for (uint64_t i = 0; i < count; i++) {
      if (tail - head == SPSC_SLOTS) {
        atomic_store_explicit(&q->tail, tail, memory_order_release);
        while (tail - head == SPSC_SLOTS) head = atomic_load_explicit(&q->head, memory_order_acquire);
      }
      uint8_t *slot = q->slots[tail % SPSC_SLOTS];
      memcpy(slot, &size, 4);
      memcpy(slot + 4, msg, size);
      if (++tail % SPSC_EVERY == 0) atomic_store_explicit(&q->tail, tail, memory_order_release);
    }
    atomic_store_explicit(&q->tail, tail, memory_order_release);
    _exit(0);
  }
  uint8_t mine[SPSC_SLOT];
  uint64_t head = 0, tail = 0, sink = 0, start = 0;
  while (head < count) {
    while (head == tail) tail = atomic_load_explicit(&q->tail, memory_order_acquire);
    if (head == 0) start = now_ns();
    for (; head < tail; head++) {
      uint8_t *slot = q->slots[head % SPSC_SLOTS];
      uint32_t n;
      memcpy(&n, slot, 4);
      memcpy(mine, slot + 4, n);
      sink += mine[0];
      if (head % SPSC_EVERY == 0) atomic_store_explicit(&q->head, head, memory_order_release);
    }
    atomic_store_explicit(&q->head, head, memory_order_release);
  }
  double seconds = (double)(now_ns() - start) / 1e9;
  bench_sink = sink;
  printf("%.0f\n", (double)(count - 1) / seconds);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "sizes") == 0) {
    show_sizes = 1;
    argv++;
    argc--;
  }
  if (argc >= 6 && strcmp(argv[1], "server") == 0)
    return run_server(argv[2], atoi(argv[3]), argv[4], argv[5]);
  if (argc >= 3 && strcmp(argv[1], "client") == 0)
    return run_client(argv[2], argc >= 4 ? atoi(argv[3]) : 0);
  if (argc >= 4 && strcmp(argv[1], "bench-server") == 0)
    return run_bench_server(argv[2], strcmp(argv[3], "copy") == 0);
  if (argc >= 4 && strcmp(argv[1], "bench-client") == 0)
    return run_bench_client(argv[2], strcmp(argv[3], "copy") == 0);
  if (argc >= 4 && strcmp(argv[1], "spsc") == 0)
    return run_spsc(strtoull(argv[2], NULL, 10), (uint32_t)atoi(argv[3]));
  if (argc >= 6 && strcmp(argv[1], "ring-write") == 0)
    return run_ring_write(argv[2], (uint32_t)atoi(argv[3]), atoi(argv[4]), argv[5]);
  if (argc >= 6 && strcmp(argv[1], "ring-read") == 0)
    return run_ring_read(argv[2], (uint32_t)atoi(argv[3]), (uint32_t)atoi(argv[4]), (uint32_t)atoi(argv[5]));
  fprintf(stderr, "usage: see the comment at the top of tests/peer.c\n");
  return 2;
}
