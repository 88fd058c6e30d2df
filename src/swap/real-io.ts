// --io real: the requests of a simulated run replayed against the swap file
// with asynchronous file I/O (fs/promises FileHandle read and write), each
// arriving at its simulated time on the wall clock, through the same
// arbitration (priority queues or one FIFO; at most `parallelism` at the
// file, each type within its queue depth), and timed from arrival to
// completion. Reads read the request's slot; writes go to the slot's twin
// past the end of the live slots (offset (capacity + slot) × 4096), so the
// replay never changes a page the guest may still read. Cancelled
// prefetches are not replayed; a promoted one is replayed as its demand read. The free-frame rule
// does not apply (the replay moves no frames). Wall-clock latencies depend
// on the machine and its page cache; the byte and request counts do not.
import { open } from "node:fs/promises";
import { PAGE_SIZE } from "../wasm/codes.js";
import type { DeviceModel } from "./device.js";
import { latencyFigures, type LatencyFigures, type PerType } from "./figures.js";
import { Queues, type QueueMode } from "./queues.js";
import { REQUEST_TYPES, type RequestRecord, type RequestType, type SwapRequest } from "./request.js";

export interface ReplayOptions {
  readonly queues: QueueMode;
  readonly device: DeviceModel;
  readonly capacitySlots: number;
}

export interface ReplayResult {
  /** Wall-clock latency per type, arrival to completion. */
  readonly latency: PerType<LatencyFigures>;
  readonly bytesRead: number;
  readonly bytesWritten: number;
  /** Wall time of the whole replay, ms. */
  readonly wallMs: number;
}

const msNow = (): number => performance.now();

/** Replays `log` against the file at `path`; resolves when every request is done. */
export async function replayOnFile(path: string, log: readonly RequestRecord[], o: ReplayOptions): Promise<ReplayResult> {
  const file = await open(path, "r+");
  const queues = new Queues(o.queues, o.device.queueDepth, o.device.parallelism);
  const inService: Record<RequestType, number> = { demand: 0, prefetch: 0, writeBack: 0 };
  const latencies: Record<RequestType, number[]> = { demand: [], prefetch: [], writeBack: [] };
  const arrivedMs = new Map<SwapRequest, number>();
  const buffers: Uint8Array[] = [];
  let bytesRead = 0;
  let bytesWritten = 0;
  let next = 0;
  let running = 0;
  const started = msNow();
  try {
    await new Promise<void>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | null = null;
      const pump = (): void => {
        const elapsedNs = (msNow() - started) * 1e6;
        while (next < log.length && log[next].atNs <= elapsedNs) {
          const rec = log[next++];
          if (rec.dropped) continue;
          const r: SwapRequest = { id: next, type: rec.type, slot: rec.slot, arrivalNs: rec.atNs, startNs: NaN, doneNs: NaN, state: "queued", promoted: false, logIndex: -1 };
          arrivedMs.set(r, msNow());
          queues.push(r);
        }
        const never = (): boolean => false;
        for (let r = queues.next(inService, never); r !== null; r = queues.next(inService, never)) start(r);
        if (next === log.length && running === 0) resolve();
        else if (next < log.length && timer === null) {
          timer = setTimeout(() => { timer = null; pump(); }, Math.max(0, (log[next].atNs - elapsedNs) / 1e6));
        }
      };
      const start = (r: SwapRequest): void => {
        r.state = "service";
        inService[r.type]++;
        running++;
        const buf = buffers.pop() ?? new Uint8Array(PAGE_SIZE);
        const io = r.type === "writeBack"
          ? file.write(buf, 0, PAGE_SIZE, (o.capacitySlots + r.slot) * PAGE_SIZE).then((w) => { bytesWritten += w.bytesWritten; })
          : file.read(buf, 0, PAGE_SIZE, r.slot * PAGE_SIZE).then((rd) => { bytesRead += rd.bytesRead; });
        io.then(() => {
          r.state = "done";
          inService[r.type]--;
          running--;
          buffers.push(buf);
          latencies[r.type].push((msNow() - arrivedMs.get(r)!) * 1e6);
          arrivedMs.delete(r);
          pump();
        }, reject);
      };
      pump();
    });
  } finally {
    await file.close();
  }
  return Object.freeze({
    latency: Object.freeze(Object.fromEntries(REQUEST_TYPES.map((t) => [t, latencyFigures(latencies[t])])) as Record<RequestType, LatencyFigures>),
    bytesRead,
    bytesWritten,
    wallMs: msNow() - started,
  });
}
