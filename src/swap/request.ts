// A swap I/O request and its type. Every read or write the swap device
// serves is one of three types (the seed's classification): a demand read
// (a guest waits on it), a prefetch read (readahead of neighbouring slots,
// nobody waits on it yet) or a write-back (a page swapped out).
export type RequestType = "demand" | "prefetch" | "writeBack";
export const REQUEST_TYPES: readonly RequestType[] = Object.freeze(["demand", "prefetch", "writeBack"]);

export type RequestState = "queued" | "service" | "done" | "cancelled";

export interface SwapRequest {
  readonly id: number;
  /** Changes once: a prefetch a fault hits while it is queued becomes a demand read. */
  type: RequestType;
  readonly slot: number;
  /** When it entered its current queue (its submission, or its promotion), ns. */
  arrivalNs: number;
  /** When its service started and ended, ns (NaN until then). */
  startNs: number;
  doneNs: number;
  state: RequestState;
  /** It was a prefetch promoted to a demand read. */
  promoted: boolean;
  /** Its entry in the device's log (-1: not logged). */
  logIndex: number;
}

/** What the device did, one entry per request, for a replay against a real file. */
export interface RequestRecord {
  readonly type: RequestType;
  readonly slot: number;
  /** Submission (or promotion) time on the timeline, ns. */
  readonly atNs: number;
  /** Cancelled, or replaced by its promotion (a later demand entry): never served as this entry. */
  dropped: boolean;
}
