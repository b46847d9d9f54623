/**
 * The wire protocol of the image exchange: object names and the header layout, in one place.
 *
 * A channel `C` is four objects:
 *
 * | object            | kind      | who creates                  | meaning                          |
 * | ----------------- | --------- | ---------------------------- | -------------------------------- |
 * | `/SEM_C_REQ`      | semaphore | whoever starts first, at 0   | server posts: a request is ready |
 * | `/SEM_C_RES`      | semaphore | whoever starts first, at 0   | client posts: the answer is ready|
 * | `/SEG_C_HEAD`     | segment   | the server (replacing stale) | the header below                 |
 * | `/SEG_C_DATA`     | segment   | the server (replacing stale) | the name / the pixels            |
 *
 * Header, native byte order (little-endian on x86_64 and aarch64). Bytes 0..32 are the plain
 * protocol of the C++ program this project grew from; a peer that knows only those works both
 * ways. Bytes 32.. are this project's extensions, used only when the header segment is large
 * enough and `EXT_MAGIC` is set.
 *
 * ```text
 *  offset size  field            written by  meaning
 *  ------ ----  ---------------  ----------  -----------------------------------------------
 *       0 u64   LENGTH           both        request: bytes of the name; response: bytes of pixels
 *       8 u64   WIDTH            client      pixels per row
 *      16 u64   HEIGHT           client      rows
 *      24 u64   CHANNELS         client      bytes per pixel, 1..4 (1 grey, 3 RGB, 4 RGBA)
 *  ---- plain protocol ends: 32 bytes ---------------------------------------------------------
 *      32 u32   EXT_MAGIC        server      "SHMX" (0x584d4853): the server speaks extensions
 *      36 u32   EXT_VERSION      server      1
 *      40 u32   SERVER_PID       server      for noticing a dead server
 *      44 u32   REQUEST_KIND     server      0 = image request, 1 = finish (client should exit)
 *      48 u64   REQUEST_SEQ      server      1, 2, 3, ... per request
 *      56 u64   SESSION          server      random per server run: tells stale headers apart
 *      64 u32   RESPONSE_MAGIC   client      "SHMR" (0x524d4853) on every extended response;
 *                                            the server clears it before each request
 *      68 u32   CLIENT_PID       client      for noticing a dead client
 *      72 u32   STATUS           client      0 = ok, 1 = error (ERROR_TEXT says why)
 *      76 u32   ERROR_LENGTH     client      bytes of ERROR_TEXT
 *      80 u64   RESPONSE_SEQ     client      the REQUEST_SEQ this answers
 *      88 u64   (reserved)
 *      96 256   ERROR_TEXT       client      UTF-8
 *     352       end of what is used; the server makes the header one page (4096 bytes)
 * ```
 *
 * @module
 */

/** Byte offsets in the header segment. */
export const HEADER = {
  LENGTH: 0,
  WIDTH: 8,
  HEIGHT: 16,
  CHANNELS: 24,
  /** Size of the plain protocol's header. */
  PLAIN_SIZE: 32,
  EXT_MAGIC: 32,
  EXT_VERSION: 36,
  SERVER_PID: 40,
  REQUEST_KIND: 44,
  REQUEST_SEQ: 48,
  SESSION: 56,
  RESPONSE_MAGIC: 64,
  CLIENT_PID: 68,
  STATUS: 72,
  ERROR_LENGTH: 76,
  RESPONSE_SEQ: 80,
  ERROR_TEXT: 96,
  ERROR_TEXT_MAX: 256,
  /** Bytes a header needs for the extensions. */
  EXT_SIZE: 352,
  /** The size the server makes the header segment. */
  SEGMENT_SIZE: 4096,
} as const;

/** "SHMX", little-endian. */
export const EXT_MAGIC = 0x584d4853;
/** "SHMR", little-endian. */
export const RESPONSE_MAGIC = 0x524d4853;
export const EXT_VERSION = 1;

/** `REQUEST_KIND` values. */
export const RequestKind = { IMAGE: 0, FINISH: 1 } as const;
/** `STATUS` values. */
export const Status = { OK: 0, ERROR: 1 } as const;

/** The largest `CHANNELS` value. */
export const MAX_CHANNELS = 4;
/** The size the server first makes the data segment; it grows to fit and never shrinks. */
export const INITIAL_DATA_SIZE = 64 * 1024;

/** The four object names of a channel. */
export interface ChannelNames {
  /** Semaphore the server posts when a request is ready: `/SEM_C_REQ`. */
  requestReady: string;
  /** Semaphore the client posts when the response is ready: `/SEM_C_RES`. */
  responseReady: string;
  /** Header segment: `/SEG_C_HEAD`. */
  head: string;
  /** Data segment: `/SEG_C_DATA`. */
  data: string;
}

/**
 * The object names of channel `channel` (a `/` in it becomes `_`).
 *
 * @param channel For example `"ibis"`.
 * @returns The four names.
 * @throws {TypeError} For an empty channel name.
 *
 * @example
 * ```ts
 * import { channelNames } from "./protocol.ts";
 * console.log(channelNames("ibis").head); // "/SEG_ibis_HEAD"
 * ```
 */
export function channelNames(channel: string): ChannelNames {
  if (typeof channel !== "string" || channel.length === 0) {
    throw new TypeError(`Invalid channel "${channel}": expected a non-empty name, like "ibis"`);
  }
  const c = channel.replaceAll("/", "_");
  return {
    requestReady: `/SEM_${c}_REQ`,
    responseReady: `/SEM_${c}_RES`,
    head: `/SEG_${c}_HEAD`,
    data: `/SEG_${c}_DATA`,
  };
}
