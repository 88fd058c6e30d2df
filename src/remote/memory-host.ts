// The memory host: a worker thread that owns remote-memory regions. It hands
// out a region (a SharedArrayBuffer) when asked, within its capacity, and
// otherwise sleeps in Atomics.wait: once a region exists, the compute and
// failover hosts read and write it themselves, as a one-sided RDMA verb
// needs no remote CPU (Zombieland, EuroSys'18: memory stays reachable while
// its server's CPUs sleep). `requestsServed` counts what its thread did, so a
// test can show a recovery took none of it.
//
// Control words (Int32Array over a 16-byte SharedArrayBuffer):
//   [0] request sequence (the caller bumps it)   [1] answered sequence (the worker bumps it)
//   [2] requests served                          [3] reserved
// The request and the answer (which carries the region) travel on a
// MessagePort, read synchronously with receiveMessageOnPort.
//
// The worker's code is a string run with `eval: true` and no inherited
// execArgv, so the same file runs from the TypeScript sources, the tests,
// `node -e` programs and the compiled package.
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from "node:worker_threads";
import { ErrorCode, HypermemError } from "../errors.js";

const WORKER_SOURCE = `
const { workerData, receiveMessageOnPort } = require("node:worker_threads");
const { ctl, port } = workerData;
let capacityBytes = workerData.capacityBytes;
let seen = 0;
for (;;) {
  Atomics.wait(ctl, 0, seen);
  seen = Atomics.load(ctl, 0);
  const got = receiveMessageOnPort(port);
  const req = got ? got.message : { op: "none" };
  let answer;
  if (req.op === "allocate") {
    if (req.bytes > capacityBytes) answer = { ok: false, leftBytes: capacityBytes };
    else {
      try { answer = { ok: true, region: new SharedArrayBuffer(req.bytes) }; capacityBytes -= req.bytes; }
      catch (err) { answer = { ok: false, leftBytes: capacityBytes, reason: String(err && err.message) }; }
    }
  } else if (req.op === "free") { capacityBytes += req.bytes; answer = { ok: true }; }
  else if (req.op === "stop") { answer = { ok: true }; }
  else answer = { ok: true, leftBytes: capacityBytes };
  Atomics.add(ctl, 2, 1);
  port.postMessage(answer);
  Atomics.store(ctl, 1, seen);
  Atomics.notify(ctl, 1);
  if (req.op === "stop") break;
}
`;

/** How long a request waits for the worker before the memory host counts as unreachable. */
const ANSWER_TIMEOUT_MS = 30_000;

interface Answer { readonly ok: boolean; readonly region?: SharedArrayBuffer; readonly leftBytes?: number; readonly reason?: string }

export class MemoryHost {
  readonly capacityBytes: number;
  readonly #ctl: Int32Array;
  readonly #port: MessagePort;
  readonly #worker: Worker;
  #reachable = true;
  #stopped = false;

  constructor(capacityBytes: number) {
    if (!Number.isSafeInteger(capacityBytes) || capacityBytes < 4096) {
      throw new HypermemError(ErrorCode.BadOption, `a memory host has at least 4096 bytes of capacity, got ${String(capacityBytes)}`, { option: "capacityBytes", value: capacityBytes });
    }
    this.capacityBytes = capacityBytes;
    this.#ctl = new Int32Array(new SharedArrayBuffer(16));
    const { port1, port2 } = new MessageChannel();
    this.#port = port1;
    this.#worker = new Worker(WORKER_SOURCE, {
      eval: true, workerData: { ctl: this.#ctl, port: port2, capacityBytes }, transferList: [port2],
      execArgv: [], // plain CommonJS: not the parent's --input-type or loaders
    });
    this.#worker.unref();
  }

  /** Requests the worker thread has served (allocations, frees, pings). */
  get requestsServed(): number { return Atomics.load(this.#ctl, 2); }
  /** False after disconnect(): the link to the memory host (its NIC) is down. Its thread may be stopped and the link up. */
  get reachable(): boolean { return this.#reachable; }

  #request(message: Record<string, unknown>, overLink = true): Answer {
    if (overLink && !this.#reachable) throw new HypermemError(ErrorCode.RemoteUnreachable, "the memory host is unreachable (its link is down)", {});
    if (this.#stopped) throw new HypermemError(ErrorCode.RemoteUnreachable, `the memory host's thread was stopped: it serves no ${String(message.op)} request`, { op: message.op });
    this.#port.postMessage(message);
    const seq = Atomics.add(this.#ctl, 0, 1) + 1;
    Atomics.notify(this.#ctl, 0);
    const deadline = Date.now() + ANSWER_TIMEOUT_MS;
    while (Atomics.load(this.#ctl, 1) !== seq) {
      const left = deadline - Date.now();
      if (left <= 0) throw new HypermemError(ErrorCode.RemoteUnreachable, `the memory host did not answer a ${String(message.op)} request within ${ANSWER_TIMEOUT_MS} ms`, { op: message.op });
      Atomics.wait(this.#ctl, 1, Atomics.load(this.#ctl, 1), left);
    }
    const got = receiveMessageOnPort(this.#port);
    if (!got) throw new HypermemError(ErrorCode.RemoteUnreachable, `the memory host answered a ${String(message.op)} request without a message`, { op: message.op });
    return got.message as Answer;
  }

  /** A region of `bytes` (zeroed); ERR_REMOTE_CAPACITY when more than the host has left. */
  allocate(bytes: number): SharedArrayBuffer {
    if (!Number.isSafeInteger(bytes) || bytes < 1) throw new HypermemError(ErrorCode.BadOption, `a region has a positive whole number of bytes, got ${String(bytes)}`, { option: "bytes", value: bytes });
    const answer = this.#request({ op: "allocate", bytes });
    if (!answer.ok || !answer.region) {
      throw new HypermemError(ErrorCode.RemoteCapacity, `a region of ${bytes} bytes does not fit the memory host: ${answer.leftBytes} of its ${this.capacityBytes} bytes are left${answer.reason ? ` (${answer.reason})` : ""}`, { bytes, leftBytes: answer.leftBytes, capacityBytes: this.capacityBytes });
    }
    return answer.region;
  }

  /** Gives `bytes` of capacity back (the region is dropped by whoever held it). */
  free(bytes: number): void { this.#request({ op: "free", bytes }); }

  /** Bytes the host has left; a round trip to its thread. */
  leftBytes(): number { return this.#request({ op: "ping" }).leftBytes ?? 0; }

  /** Cuts the link: every later request, and every one-sided access through a RemoteRegion, fails. */
  disconnect(): void { this.#reachable = false; }
  /** Restores the link. */
  reconnect(): void { this.#reachable = true; }

  /** Stops the worker thread. Regions already handed out stay readable by those who hold them. Idempotent. */
  async close(): Promise<void> {
    if (this.#stopped) return;
    this.#request({ op: "stop" }, false); // the simulation's own control path, not the modelled link
    this.#stopped = true;
    this.#port.close();
    await this.#worker.terminate();
  }
}
