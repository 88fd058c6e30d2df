// Every number the wasm module and TypeScript share (src/wasm/codes.ts) is
// defined in assembly/ and mirrored in src/: both sides must agree, value by
// value, through the module's ABI_* globals.
import { describe, expect, it } from "vitest";
import { KernelStatus } from "../src/errors.js";
import {
  ACCESS_BYTES, END_STREAM_BYTES, FaultReason, FRAME_META_BYTES, MAX_RECORD_BYTES, MAX_VMS, MAX_WORKLOADS, OP_WRITE,
  PACK_STATS_WORDS, PageOp, POISON_MARK, PTE, RECORD_HEADER_BYTES, RecordType, Stage, STAGE_NO_ZERO_DETECTION, StreamReason,
  UNPACK_VALIDATE_ONLY, UNPACK_XBZRLE, VM_DESC_BYTES, VmDesc, WORKLOAD_DESC_BYTES, WORKLOAD_SLOTS_OFFSET, XXH3_STREAM_STATE_BYTES,
} from "../src/wasm/codes.js";
import { instantiate } from "../src/wasm/loader.js";

const exports = instantiate();
const abi = (name: string): bigint | number => {
  const global = exports[`ABI_${name}`] as WebAssembly.Global | undefined;
  if (!global) throw new Error(`the module exports no ABI_${name}`);
  return global.value as bigint | number;
};
const snake = (name: string): string => name.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();

describe("ABI agreement", () => {
  it("page-table entry bits", () => {
    for (const [name, bit] of Object.entries(PTE)) expect([name, abi(`PTE_${name}`)]).toEqual([name, bit]);
  });
  it("fault reasons", () => {
    for (const [name, value] of Object.entries(FaultReason)) expect([name, abi(`FAULT_${snake(name)}`)]).toEqual([name, value]);
  });
  it("page-state operations", () => {
    for (const [name, value] of Object.entries(PageOp)) expect([name, abi(`OP_${snake(name)}`)]).toEqual([name, value]);
  });
  it("kernel status codes", () => {
    for (const [name, value] of Object.entries(KernelStatus)) expect([name, abi(`ERR_${snake(name)}`)]).toEqual([name, value]);
  });
  it("access records, frame metadata, VM descriptors, workload slots", () => {
    expect([ACCESS_BYTES, OP_WRITE, FRAME_META_BYTES, VM_DESC_BYTES, MAX_VMS, WORKLOAD_SLOTS_OFFSET, WORKLOAD_DESC_BYTES, MAX_WORKLOADS])
      .toEqual(["ACCESS_BYTES", "OP_WRITE", "FRAME_META_BYTES", "VM_DESC_BYTES", "MAX_VMS", "WORKLOAD_SLOTS_OFFSET", "WORKLOAD_DESC_BYTES", "MAX_WORKLOADS"].map(abi));
    for (const [name, offset] of Object.entries(VmDesc)) expect([name, abi(`VM_${snake(name)}`)]).toEqual([name, offset]);
  });
  it("stream records, stages, flags, reasons and statistics", () => {
    for (const [name, value] of Object.entries(RecordType)) expect([name, abi(`REC_${snake(name)}`)]).toEqual([name, value]);
    for (const [name, value] of Object.entries(Stage)) expect([name, abi(`STAGE_${snake(name)}`)]).toEqual([name, value]);
    expect([RECORD_HEADER_BYTES, MAX_RECORD_BYTES, END_STREAM_BYTES, STAGE_NO_ZERO_DETECTION, UNPACK_XBZRLE, UNPACK_VALIDATE_ONLY, PACK_STATS_WORDS, POISON_MARK, XXH3_STREAM_STATE_BYTES])
      .toEqual(["REC_HEADER_BYTES", "MAX_RECORD_BYTES", "END_STREAM_BYTES", "STAGE_NO_ZERO_DETECTION", "UNPACK_XBZRLE", "UNPACK_VALIDATE_ONLY", "PACK_STATS_WORDS", "POISON_MARK", "XXH3_STREAM_STATE_BYTES"].map(abi));
    for (const name of ["PfnRange", "Flags", "PageState", "OutOfFrames", "NotResident"] as const) {
      expect([name, abi(`REASON_${snake(name)}`)]).toEqual([name, StreamReason[name]]);
    }
  });
});
