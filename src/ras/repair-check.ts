// The check of every repaired page: a copy of the page is kept when its
// error is injected (the test harness's view: in the simulation the bytes
// before the error are known), and the page's new frame is compared with it,
// byte for byte, when the engine repairs it. A refill from the wrong file
// bytes or a rebuild from a stale parity shows here as a mismatch naming the
// page and the first differing offset.
import type { Host } from "../host/host.js";
import type { RecoveryEvent } from "./engine.js";

/** Repaired pages compared with the copy taken at injection. */
export interface RepairCheckResult {
  readonly repaired: number;
  readonly verified: number;
  /** Pages whose repaired bytes differ from the copy: "vm:pfn at offset N". */
  readonly mismatched: readonly string[];
}

export class RepairCheck {
  readonly #host: Host;
  readonly #copies = new Map<number, Uint8Array>();
  readonly #mismatched: string[] = [];
  #repaired = 0;
  #verified = 0;

  constructor(host: Host) { this.#host = host; }

  /** Keeps `bytes`, what bad frame `hfn` held before its error. */
  keep(hfn: number, bytes: Uint8Array): void { this.#copies.set(hfn, bytes.slice()); }

  /** Compares a repaired page's new frame with the copy of its bad frame (a listener for RasEngine.onRecovery). */
  readonly onRecovery = (e: RecoveryEvent): void => {
    this.#repaired++;
    const copy = this.#copies.get(e.badHfn);
    if (!copy) return;
    const now = this.#host.framePages.read(e.newHfn);
    const at = now.findIndex((b, i) => b !== copy[i]);
    if (at >= 0) this.#mismatched.push(`${e.vm.id}:${e.pfn} at offset ${at}`);
    else this.#verified++;
  };

  result(): RepairCheckResult {
    return { repaired: this.#repaired, verified: this.#verified, mismatched: [...this.#mismatched] };
  }
}
