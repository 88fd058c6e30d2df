// Guest workloads and traces at the edges a mutation run found untested:
// a GuestWorkload on a clock (attach, a second clock refused, detach, a
// paused VM or a closed workload skipping its turns), runs longer than one
// batch, a replayed trace running out, save/restore of carry and throttle;
// TraceReader after close, rewind and remaining; readTrace's size limit;
// TraceWriter's option checks at their bounds.
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createHost, readTrace, recordTrace, Timeline, TraceReader, TraceWriter } from "../src/index.js";
import { encodeTraceHeader, TRACE_HEADER_BYTES, TRACE_MAX_READ_BYTES } from "../src/host/trace.js";
import { thrownError } from "./helpers.js";

const dir = mkdtempSync(join(tmpdir(), "hypermem-workload-mutants-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const tmpPath = (): string => join(dir, `t-${files++}.hmtr`);

describe("GuestWorkload on a clock", () => {
  it("runs as the clock advances, not while its VM is paused or after close; a second clock is refused until detach", () => {
    const vm = createHost({ memoryMiB: 16 }).createVm({ memoryMiB: 1 });
    const w = vm.startWorkload({ kind: "uniform", ratePerSec: 1000, seed: 2 });
    const t = new Timeline();
    expect(w.clock).toBe(null);
    w.attach(t);
    w.attach(t); // the same clock again: nothing changes
    expect(w.clock).toBe(t);
    t.advance(1e9);
    expect(vm.counters.accesses).toBe(1000);
    const other = new Timeline();
    expect(thrownError(() => w.attach(other))).toEqual({
      code: "ERR_BAD_OPTION", message: `the workload of vm ${vm.id} is already attached to a clock; detach() it first`, details: { vm: vm.id },
    });
    vm.pause();
    t.advance(1e9);
    expect(vm.counters.accesses).toBe(1000);
    vm.resume();
    w.detach();
    w.detach();
    expect(w.clock).toBe(null);
    t.advance(1e9);
    expect(vm.counters.accesses).toBe(1000);
    w.attach(other);
    other.advance(0.5e9);
    expect(vm.counters.accesses).toBe(1500);
    w.close();
    w.close();
    expect(w.clock).toBe(null);
    other.advance(1e9);
    w.advance(1e9);
    expect(vm.counters.accesses).toBe(1500);
  });

  it("a run longer than one batch of 65,536 records issues every access", () => {
    const vm = createHost({ memoryMiB: 16 }).createVm({ memoryMiB: 1 });
    const w = vm.startWorkload({ kind: "sequential", ratePerSec: 150_000 });
    expect(w.runFor(1e9)).toEqual({ accesses: 150_000, durationNs: 1e9, more: true });
    expect(vm.counters.accesses).toBe(150_000);
    expect(w.generator.generated).toBe(150_000);
    w.close();
  });

  it("a replayed trace that runs out says so: more false, the accesses it had", () => {
    const path = tmpPath();
    recordTrace(path, { kind: "uniform", ratePerSec: 1000 }, 256, 70_000);
    const vm = createHost({ memoryMiB: 16 }).createVm({ memoryMiB: 1 });
    const w = vm.startWorkload({ kind: "trace", path });
    expect(w.ratePerSec).toBe(1000);
    expect(w.runFor(30e9)).toEqual({ accesses: 30_000, durationNs: 30e9, more: true });
    expect(w.runFor(30e9)).toEqual({ accesses: 30_000, durationNs: 30e9, more: true });
    expect(w.runFor(10e9)).toEqual({ accesses: 10_000, durationNs: 10e9, more: false });
    expect(w.runFor(100e9)).toEqual({ accesses: 0, durationNs: 100e9, more: false });
    w.close();
    const long = vm.startWorkload({ kind: "trace", path });
    expect(long.runFor(100e9)).toEqual({ accesses: 70_000, durationNs: 100e9, more: false });
    long.close();
  });

  it("runFor takes 0 .. 2^53 - 1 ns; throttle 0 .. 0.99", () => {
    const vm = createHost({ memoryMiB: 16 }).createVm({ memoryMiB: 1 });
    const w = vm.startWorkload({ kind: "uniform", ratePerSec: 1000 });
    expect(w.runFor(0)).toEqual({ accesses: 0, durationNs: 0, more: true });
    expect(thrownError(() => w.runFor(-1))).toMatchObject({ code: "ERR_BAD_OPTION", details: { option: "durationNs", value: -1 } });
    w.throttle = 0.99;
    expect(w.throttle).toBe(0.99);
    expect(w.runFor(1e9).accesses).toBe(10);
    w.throttle = 0;
    expect(thrownError(() => { w.throttle = -0.01; })).toMatchObject({ code: "ERR_BAD_OPTION", details: { option: "throttle" } });
    w.close();
  });

  it("save and restore carry the fraction of an access and the throttle", () => {
    const vm = createHost({ memoryMiB: 16 }).createVm({ memoryMiB: 1 });
    const w = vm.startWorkload({ kind: "uniform", ratePerSec: 1000, seed: 4 });
    w.throttle = 0.5;
    w.runFor(1.5e6); // 0.75 of an access
    const state = w.save();
    expect([state.carry, state.throttle]).toEqual([0.75, 0.5]);
    const copy = vm.startWorkload({ kind: "uniform", ratePerSec: 1000, seed: 4 });
    copy.restore(state);
    expect(copy.throttle).toBe(0.5);
    expect(copy.runFor(0.5e6).accesses).toBe(1); // 0.25 + 0.75
    expect(thrownError(() => copy.restore({ ...state, carry: 1.5 }))).toMatchObject({ code: "ERR_BAD_OPTION", details: { option: "carry" } });
    w.close();
    copy.close();
  });

  it("a state with a bad carry or throttle is refused whole: the generator is not rewound", () => {
    const vm = createHost({ memoryMiB: 16 }).createVm({ memoryMiB: 1 });
    const w = vm.startWorkload({ kind: "uniform", ratePerSec: 1000, seed: 4 });
    w.runFor(1e9);
    const state = w.save();
    w.runFor(1e9);
    const desc = w.generator.save().desc;
    expect(thrownError(() => w.restore({ ...state, carry: 2 }))).toMatchObject({ code: "ERR_BAD_OPTION", details: { option: "carry" } });
    expect(thrownError(() => w.restore({ ...state, throttle: 1 }))).toMatchObject({ code: "ERR_BAD_OPTION", details: { option: "throttle" } });
    expect(w.generator.generated).toBe(2000);
    expect(w.generator.save().desc).toEqual(desc);
    expect([w.save().carry, w.throttle]).toEqual([0, 0]);
    w.close();
  });
});

describe("GuestWorkload's descriptor slot", () => {
  it("a second close does not free the slot another workload took since: a third workload gets a slot of its own", () => {
    const vm = createHost({ memoryMiB: 16 }).createVm({ memoryMiB: 1 });
    const first = vm.startWorkload({ kind: "uniform", ratePerSec: 1000, seed: 1 });
    first.close();
    const second = vm.startWorkload({ kind: "uniform", ratePerSec: 1000, seed: 2 });
    second.runFor(1e9);
    const desc = second.generator.save().desc;
    first.close();
    const third = vm.startWorkload({ kind: "zipf", s: 1.2, ratePerSec: 1000, seed: 3 });
    expect(second.generator.save().desc).toEqual(desc);
    second.close();
    third.close();
  });

  it("a trace file that fails its check throws ERR_TRACE_FORMAT and leaves no slot taken", () => {
    const path = tmpPath();
    writeFileSync(path, Buffer.alloc(TRACE_HEADER_BYTES + 16, 0x41));
    const vm = createHost({ memoryMiB: 16 }).createVm({ memoryMiB: 1 });
    expect(thrownError(() => vm.startWorkload({ kind: "trace", path }))).toMatchObject({ code: "ERR_TRACE_FORMAT" });
    const open = Array.from({ length: 256 }, () => vm.startWorkload({ kind: "sequential" }));
    expect(thrownError(() => vm.startWorkload({ kind: "sequential" }))).toMatchObject({ code: "ERR_HOST_LIMIT" });
    open.forEach((w) => w.close());
  });

  it("a trace that ran out issues nothing, so it runs on a paused VM without ERR_VM_PAUSED", () => {
    const path = tmpPath();
    recordTrace(path, { kind: "uniform", ratePerSec: 1000 }, 256, 10);
    const vm = createHost({ memoryMiB: 16 }).createVm({ memoryMiB: 1 });
    const w = vm.startWorkload({ kind: "trace", path });
    expect(w.runFor(1e9)).toEqual({ accesses: 10, durationNs: 1e9, more: false });
    vm.pause();
    expect(w.runFor(1e9)).toEqual({ accesses: 0, durationNs: 1e9, more: false });
    w.close();
  });
});

describe("trace files", () => {
  it("TraceReader: remaining, rewind, a read into a buffer smaller than a record, and no read after close", () => {
    const path = tmpPath();
    recordTrace(path, { kind: "sequential" }, 64, 5);
    const r = TraceReader.open(path);
    expect([r.position, r.remaining]).toEqual([0, 5]);
    expect(r.read(new Uint8Array(15))).toBe(0);
    const buf = new Uint8Array(3 * 16);
    expect(r.read(buf)).toBe(3);
    expect([r.position, r.remaining]).toEqual([3, 2]);
    const first = buf.slice(0, 16);
    expect(r.read(buf)).toBe(2);
    expect(r.read(buf)).toBe(0);
    r.rewind();
    expect(r.read(buf)).toBe(3);
    expect(buf.slice(0, 16)).toEqual(first);
    r.close();
    r.close();
    expect(thrownError(() => r.read(buf))).toEqual({ code: "ERR_DESTROYED", message: `trace ${path}: reader is closed`, details: { path } });
  });

  it("readTrace refuses more than 1 GiB of records before reading them (a sparse file)", () => {
    const path = tmpPath();
    const count = TRACE_MAX_READ_BYTES / 16 + 1;
    writeFileSync(path, encodeTraceHeader({ guestPages: 1, recordCount: count, ratePerSec: 1, crc32: 0 }));
    truncateSync(path, TRACE_HEADER_BYTES + count * 16); // sparse
    expect(thrownError(() => readTrace(path))).toEqual({
      code: "ERR_LENGTH", message: `trace ${path}: ${count * 16} bytes of records exceed readTrace's ${TRACE_MAX_READ_BYTES}; use TraceReader`, details: { path, bytes: count * 16 },
    });
  });

  it("TraceWriter takes guestPages 1 .. 2^52 and ratePerSec 1 .. 2^32 - 1", () => {
    for (const [guestPages, ratePerSec, option] of [[0, 1, "guestPages"], [2 ** 52 + 1, 1, "guestPages"], [1.5, 1, "guestPages"], [1, 0, "ratePerSec"], [1, 2 ** 32, "ratePerSec"], [1, 1.5, "ratePerSec"]] as const) {
      expect(thrownError(() => new TraceWriter(tmpPath(), { guestPages, ratePerSec }))).toMatchObject({ code: "ERR_BAD_OPTION", details: { option } });
    }
    const w = new TraceWriter(tmpPath(), { guestPages: 2 ** 52, ratePerSec: 2 ** 32 - 1 });
    expect(w.close()).toMatchObject({ guestPages: 2 ** 52, ratePerSec: 2 ** 32 - 1, recordCount: 0 });
    expect(thrownError(() => w.append(new Uint8Array(16)))).toMatchObject({ code: "ERR_DESTROYED" });
    expect(thrownError(() => w.close())).toMatchObject({ code: "ERR_DESTROYED" });
  });
});
