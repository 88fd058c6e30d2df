// Persist: Firecracker's save/restore contract, and the record a component's
// saved state is written as. A component turns its state into a plain value
// (save) and rebuilds itself from one (restore); whoever stores the state
// serialises that value to bytes and wraps them with encodeState(), which
// puts the versioned header (src/format/header.ts) in front of them.
//
// State record (little endian):
//   0        4       6       8             12                  20          24       28
//   ┌────────┬───────┬───────┬─────────────┬───────────────────┬───────────┬────────┬───────────────┐
//   │ magic  │ u16   │ u16   │ u32 header- │ u64 payloadBytes  │ u32 pay-  │ u32    │ payload       │
//   │ (spec) │ major │ minor │ Bytes = 28  │                   │ loadCrc32 │ crc    │ (payloadBytes)│
//   └────────┴───────┴───────┴─────────────┴───────────────────┴───────────┴────────┴───────────────┘
//   payloadCrc32  CRC-32 (zlib) of the payload
//   crc           the header's own CRC-32 of bytes 0..23
// The length and the payload's crc sit in the header, so both are covered by
// the header crc and checked (against the reader's limit) before a byte of
// payload is trusted or allocated. The record is exactly headerBytes +
// payloadBytes long.
import { crc32 } from "node:zlib";
import { ErrorCode, HypermemError } from "../errors.js";
import { defineHeader, type DecodeOptions } from "./header.js";

/** A component whose state can be saved and restored (Firecracker's Persist). */
export interface Persist<State> {
  /** The component's state as a plain value; the component is unchanged. */
  save(): State;
  /** Replaces the component's state with `state` (as save() returned it). */
  restore(state: State): void;
}

/** What identifies one component's state record. */
export interface StateSpec {
  /** The component's name in messages ("balloon"). */
  readonly name: string;
  /** 4 ASCII bytes. */
  readonly magic: string;
  readonly major: number;
  readonly minor: number;
  /** Code of a record that fails a check. @default ErrorCode.StateCorrupt */
  readonly errorCode?: ErrorCode;
}

export interface DecodeStateOptions extends DecodeOptions {
  /** Largest payload accepted (checked before it is read). @default 1 GiB */
  readonly maxPayloadBytes?: number;
}

/** A decoded state record: its version and a copy of its payload. */
export interface StateRecord {
  readonly major: number;
  readonly minor: number;
  readonly payload: Uint8Array;
}

const DEFAULT_MAX_PAYLOAD_BYTES = 2 ** 30;

function stateHeader(spec: StateSpec, maxPayloadBytes: number) {
  return defineHeader({
    name: spec.name,
    magic: spec.magic,
    major: spec.major,
    minor: spec.minor,
    errorCode: spec.errorCode ?? ErrorCode.StateCorrupt,
    fields: [
      {
        name: "payloadBytes", type: "u64",
        validate: (n: number) => (n <= maxPayloadBytes ? null : `payload of ${n} bytes is above the limit of ${maxPayloadBytes}`),
      },
      { name: "payloadCrc32", type: "u32" },
    ],
  });
}

/** The state record of `payload` at the spec's version. */
export function encodeState(spec: StateSpec, payload: Uint8Array): Uint8Array {
  const header = stateHeader(spec, Number.MAX_SAFE_INTEGER).encode({ payloadBytes: payload.byteLength, payloadCrc32: crc32(payload) >>> 0 });
  const out = new Uint8Array(header.byteLength + payload.byteLength);
  out.set(header);
  out.set(payload, header.byteLength);
  return out;
}

/**
 * Checks a state record (the header's checks and version rule, then the
 * length, then the payload crc) and returns its version and payload.
 */
export function decodeState(spec: StateSpec, bytes: Uint8Array, options: DecodeStateOptions = {}): StateRecord {
  const codec = stateHeader(spec, options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES);
  const h = codec.decode(bytes, options);
  const where = `${spec.name}${options.source === undefined ? "" : ` ${options.source}`}`;
  const total = h.headerBytes + h.payloadBytes;
  if (total !== bytes.byteLength) {
    const why = total > bytes.byteLength ? "truncated" : "trailing bytes";
    throw new HypermemError(codec.errorCode, `${where} state record: ${why}: field payloadBytes is ${h.payloadBytes}, so the record is ${total} bytes, but ${bytes.byteLength} are there`,
      { format: spec.name, field: "payloadBytes", offset: codec.offsetOf("payloadBytes"), value: h.payloadBytes, expected: bytes.byteLength - h.headerBytes });
  }
  const payload = bytes.slice(h.headerBytes);
  const actual = crc32(payload) >>> 0;
  if (actual !== h.payloadCrc32) {
    const hex = (v: number) => `0x${v.toString(16).padStart(8, "0")}`;
    throw new HypermemError(codec.errorCode, `${where} state record: field payloadCrc32 is ${hex(h.payloadCrc32)}, the payload's crc32 is ${hex(actual)}`,
      { format: spec.name, field: "payloadCrc32", offset: codec.offsetOf("payloadCrc32"), value: h.payloadCrc32, expected: actual });
  }
  return Object.freeze({ major: h.major, minor: h.minor, payload });
}
