/**
 * The wire protocol of the image exchange, as a pure codec: object names, the header layout, and
 * functions that encode and decode each message over a `DataView` of the header (and the bytes
 * of the data segment), returning a typed result or a {@link ProtocolViolation} that names the
 * field and the value. No FFI and no processes: every rule here is tested in-process
 * (`protocol_test.ts`). The transport (`requester.ts`, `responder.ts`) only waits,
 * checks sizes and liveness, and hands bytes to these functions.
 *
 * A channel `C` is four objects:
 *
 * | object        | kind      | who creates                         | meaning                         |
 * | ------------- | --------- | ----------------------------------- | ------------------------------- |
 * | `/SEM_C_REQ`  | semaphore | whoever needs it first, at 0        | requester posts: a request is ready|
 * | `/SEM_C_RES`  | semaphore | whoever needs it first, at 0        | responder posts: the answer is in  |
 * | `/SEG_C_HEAD` | segment   | the requester                          | the header below                |
 * | `/SEG_C_DATA` | segment   | the requester; grows, never shrinks    | the name, then the pixels       |
 *
 * ## The plain protocol (the C++ original's, which any peer speaks)
 *
 * Native byte order (little-endian on x86_64 and aarch64). A request: the header's word 0 is `n`,
 * the name's length, and the data segment's first `n` bytes are the name (UTF-8, no NUL). A
 * response: words 0..3 are length, width, height, channels, and the data segment holds the
 * pixels (row-major, channels interleaved, 8 bits each), `length = width × height × channels`;
 * four zero words are an error ("no such image").
 *
 * A plain peer sizes the segments as the C++ original does, and that may shrink them. Each process
 * keeps its own idea of a segment's size (1 byte at first) and, to read or write `length` bytes,
 * truncates the segment to `length` whenever `length` is at least what it keeps (then keeps
 * `length`), and maps what it keeps. So a plain responder of a requester of this project (header one
 * page) truncates the header to 8 bytes when it reads its first request, the data segment to the
 * name's length, and the header to 32 bytes with every answer; the data segment grows to the
 * pixels. A plain requester's header is 1 byte before its first request, 8 with it, then 32.
 * {@link headerCut} says which sizes are such a peer's and which are damage.
 *
 * ## This project's extensions (used only when the header is long enough and marked)
 *
 * ```text
 *  offset size  field             written by  meaning
 *  ------ ----  ----------------  ----------  -------------------------------------------------
 *       0 u64   LENGTH            both        request: bytes of the name; response: of pixels
 *       8 u64   WIDTH             responder      pixels per row (the requester sets 0 with a request)
 *      16 u64   HEIGHT            responder      rows (likewise)
 *      24 u64   CHANNELS          responder      bytes per pixel, 1..4 (likewise)
 *  ---- the plain protocol ends: 32 bytes ---------------------------------------------------
 *      32 u32   EXT_MAGIC         requester      "SHMX" (0x584d4853)
 *      36 u32   EXT_VERSION       requester      3
 *      40 u64   SESSION           requester      random per requester run, never 0: fences answers
 *      48 u32   REQUESTER_PID        requester      for messages only; liveness is a lock (below)
 *      52 u32   STATE             requester      0 live, 1 finished, 2 retired (replaced), 3 closed
 *      56 u64   DATA_ID           requester      inode of the data segment this requester made
 *      64 u64   REQUEST_SEQ       requester      1, 2, 3...; 0 before the first request
 *      72 u32   REQUEST_KIND      requester      0 image, 1 finish
 *      76 u32   CLAIM_PID         responder      pid of the responder answering CLAIM_SEQ (the requester
 *                                             sets 0 with each request)
 *      80 u32   CLAIM_SEQ         responder      low 32 bits of the REQUEST_SEQ it took (taken by
 *                                             compare-and-swap: one responder per request)
 *      84 u32   CLAIM_TAG         responder      its lock's tag (below); 0 with each request
 *      88 u64   RESPONSE_SESSION  responder      the SESSION answered
 *      96 u64   RESPONSE_SEQ      responder      the REQUEST_SEQ answered
 *     104 u32   RESPONSE_MAGIC    responder      "SHMR" (0x524d4853), written last; the requester
 *                                             clears it with each request
 *     108 u32   STATUS            responder      0 ok, 1 error (ERROR_TEXT says why)
 *     112 u32   ERROR_LENGTH      responder      bytes of ERROR_TEXT
 *     116 u32   RESPONSE_CHECK    responder      FNV-1a of words 0..3, STATUS and RESPONSE_SEQ
 *                                             (each u64 as its low, then its high u32): words
 *                                             another writer changed do not pass for these
 *     120 256   ERROR_TEXT        responder      UTF-8
 *     376       end; the requester makes the header one page (4096 bytes)
 * ```
 *
 * Liveness is not in the header: the requester holds an exclusive lock on byte 0 of the header
 * segment's file (Linux OFD locks, `_lock.ts`), and each responder an exclusive lock on a byte of
 * its own, {@link responderLockByte}(pid, tag). The kernel drops a lock when its holder dies. Only
 * exclusive locks count: a shared one (all a process that may only read can take) is no one.
 *
 * ## The fences (what makes a token an answer)
 *
 * A semaphore token only says "look". What is there decides:
 * - an extended answer counts only with RESPONSE_MAGIC set, RESPONSE_SESSION and RESPONSE_SEQ
 *   equal to the request's, and RESPONSE_CHECK matching the words it came with; anything else
 *   is a token that answers nothing (counted, ignored);
 * - a request counts only if its REQUEST_SEQ is one this responder can claim (CLAIM_SEQ is not
 *   already it), in the session it joined, with STATE live;
 * - with a plain peer, which cannot be fenced: a token finds the header exactly as this side
 *   left it (its own request, or its own answer and the same data) is ignored; see
 *   {@link readResponse} and {@link readRequest} for what that does and does not cover.
 *
 * @module
 */

export * from "./header.ts";
export * from "./codec.ts";
