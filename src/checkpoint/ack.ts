// The backup's acknowledgement of a committed checkpoint: the feedback the
// primary bases its deltas on, and what releases held output. Cumulative:
// the backup commits in stream order, so acknowledging checkpoint n
// confirms every checkpoint up to n and every page version they carried.
//
//   0        4        6        8             12                 16          20
//   ┌────────┬────────┬────────┬─────────────┬──────────────────┬───────────┐
//   │ "HMCA" │ u16 1  │ u16 0  │ u32 20      │ u32 checkpoint   │ u32 crc32 │
//   └────────┴────────┴────────┴─────────────┴──────────────────┴───────────┘
import { ErrorCode } from "../errors.js";
import { defineHeader } from "../format/header.js";

export const CHECKPOINT_ACK = defineHeader({
  name: "checkpoint acknowledgement",
  magic: "HMCA",
  major: 1,
  minor: 0,
  errorCode: ErrorCode.StreamCorrupt,
  fields: [{ name: "checkpoint", type: "u32" }],
});

export function encodeCheckpointAck(checkpoint: number): Uint8Array {
  return CHECKPOINT_ACK.encode({ checkpoint });
}

/** The checkpoint number an acknowledgement confirms; ERR_STREAM_CORRUPT (or ERR_FORMAT_VERSION) naming what is wrong. */
export function decodeCheckpointAck(bytes: Uint8Array): number {
  return CHECKPOINT_ACK.decode(bytes).checkpoint;
}
