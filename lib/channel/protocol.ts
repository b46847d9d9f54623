/**
 * The channel's wire format as a pure codec: object names, the header layout, and functions that
 * encode and decode each message over a `DataView` of the header, returning a typed result or a
 * {@link ProtocolViolation} that names the field and the value. No FFI and no processes: every
 * rule is tested in-process (`protocol_test.ts`). The transport (`requester.ts`, `responder.ts`)
 * only waits, checks sizes and liveness, and hands bytes to these functions.
 *
 * The contract itself (every field, every rule, every sequence, written for a peer in another
 * language) is `docs/channel.md`; this code follows it.
 *
 * @module
 */

export * from "./header.ts";
export * from "./codec.ts";
