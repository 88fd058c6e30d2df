// Typed views over one instance's memory that survive memory.grow: every
// getter re-creates its view when the buffer was detached (checked by
// identity), so no caller ever holds a view across a call that may grow.

export class Heap {
  readonly #memory: WebAssembly.Memory;
  #buffer: ArrayBuffer;
  #u8: Uint8Array;
  #u32: Uint32Array;
  #u64: BigUint64Array;
  #view: DataView;

  constructor(memory: WebAssembly.Memory) {
    this.#memory = memory;
    this.#buffer = memory.buffer;
    this.#u8 = new Uint8Array(this.#buffer);
    this.#u32 = new Uint32Array(this.#buffer);
    this.#u64 = new BigUint64Array(this.#buffer);
    this.#view = new DataView(this.#buffer);
  }

  #refresh(): void {
    if (this.#buffer !== this.#memory.buffer) {
      this.#buffer = this.#memory.buffer;
      this.#u8 = new Uint8Array(this.#buffer);
      this.#u32 = new Uint32Array(this.#buffer);
      this.#u64 = new BigUint64Array(this.#buffer);
      this.#view = new DataView(this.#buffer);
    }
  }

  get u8(): Uint8Array { this.#refresh(); return this.#u8; }
  get u32(): Uint32Array { this.#refresh(); return this.#u32; }
  get u64(): BigUint64Array { this.#refresh(); return this.#u64; }
  get view(): DataView { this.#refresh(); return this.#view; }
  get byteLength(): number { return this.#memory.buffer.byteLength; }

  /** Copy out: stays valid after later wasm calls. Use at the public API boundary. */
  copyOut(ptr: number, len: number): Uint8Array { return this.u8.slice(ptr, ptr + len); }

  /** Borrow: zero-copy, valid only until the next call into wasm. Internal use. */
  borrow(ptr: number, len: number): Uint8Array { return this.u8.subarray(ptr, ptr + len); }

  /** Copies `bytes` into linear memory at `ptr`. */
  copyIn(ptr: number, bytes: Uint8Array): void { this.u8.set(bytes, ptr); }

  /** Sets `len` bytes at `ptr` to `value`. */
  fill(ptr: number, len: number, value: number): void { this.u8.fill(value, ptr, ptr + len); }
}
