// A running workload's saved state as bytes: a state record of the format
// layer (src/format/persist.ts, magic "HMWL", version 1.0) whose payload is
//
//   0                 128          136          144          152
//   ┌─────────────────┬────────────┬────────────┬────────────┐
//   │ generator desc  │ u64        │ f64 carry  │ f64        │
//   │ (128 bytes: kind│ generated  │ (0..1)     │ throttle   │
//   │ params, PRNG)   │            │            │ (0..0.99)  │
//   └─────────────────┴────────────┴────────────┴────────────┘
// little endian. A checkpoint or snapshot stores it beside guest memory, so
// the restored guest goes on issuing the same accesses.
import { ErrorCode, HypermemError } from "../errors.js";
import { decodeState, encodeState, type StateSpec } from "../format/persist.js";
import { WORKLOAD_DESC_BYTES } from "../wasm/codes.js";
import type { WorkloadState } from "./guest-workload.js";

export const WORKLOAD_STATE: StateSpec = Object.freeze({ name: "workload state", magic: "HMWL", major: 1, minor: 0 });
const PAYLOAD_BYTES = WORKLOAD_DESC_BYTES + 24;

export function encodeWorkloadState(state: WorkloadState): Uint8Array {
  const payload = new Uint8Array(PAYLOAD_BYTES);
  payload.set(state.generator.desc, 0);
  const v = new DataView(payload.buffer);
  v.setBigUint64(WORKLOAD_DESC_BYTES, BigInt(state.generator.generated), true);
  v.setFloat64(WORKLOAD_DESC_BYTES + 8, state.carry, true);
  v.setFloat64(WORKLOAD_DESC_BYTES + 16, state.throttle, true);
  return encodeState(WORKLOAD_STATE, payload);
}

/** Checks and decodes a workload state record (ERR_STATE_CORRUPT naming what is wrong). */
export function decodeWorkloadState(bytes: Uint8Array, source?: string): WorkloadState {
  const { payload } = decodeState(WORKLOAD_STATE, bytes, { maxPayloadBytes: PAYLOAD_BYTES, source });
  if (payload.length !== PAYLOAD_BYTES) {
    throw new HypermemError(ErrorCode.StateCorrupt, `workload state: payload of ${payload.length} bytes, expected ${PAYLOAD_BYTES}`, { bytes: payload.length });
  }
  const v = new DataView(payload.buffer, payload.byteOffset, payload.length);
  return {
    generator: { desc: payload.slice(0, WORKLOAD_DESC_BYTES), generated: Number(v.getBigUint64(WORKLOAD_DESC_BYTES, true)) },
    carry: v.getFloat64(WORKLOAD_DESC_BYTES + 8, true),
    throttle: v.getFloat64(WORKLOAD_DESC_BYTES + 16, true),
  };
}
