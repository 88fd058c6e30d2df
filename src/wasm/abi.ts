// The typed shape of the wasm module's exports (assembly/index.ts). The cast
// to this interface in loader.ts is the only unchecked cast of the codebase.
// i64 parameters and results are bigint; u32 results above 2^31 come back
// negative and must be `>>> 0`-ed by the caller.

export interface HvExports {
  readonly memory: WebAssembly.Memory;
  init(scratchBytes: number, maxFrames: number): number;
  getCtrlBase(): number;
  getScratchBase(): number;
  getScratchBytes(): number;
  getMetaBase(): number;
  getFrameBase(): number;
  getMaxFrames(): number;
  getUsedFrames(): number;
  getPeakUsedFrames(): number;
  getFreeFrames(): number;
  getBumpFrame(): number;
  getFaultReason(): number;
  getFaultIndex(): number;
  getFaultGpa(): bigint;
  getReadChecksum(): bigint;
  getWriteCount(): bigint;

  allocFrame(owner: number, gfn: number, flags: number): number;
  allocContiguous(count: number): number;
  freeFrame(hfn: number): void;

  vmInit(slot: number, vmId: number, guestPages: bigint): number;
  vmDestroy(slot: number): number;
  nptLookup(slot: number, gfn: number): bigint;
  nptSet(slot: number, gfn: number, pte: bigint): number;
  nptPopulate(slot: number, gfn: number, write: number): number;
  nptBreakCow(slot: number, gfn: number): number;
  nptTablesNeeded(slot: number, first: number, count: number): number;
  mmuRun(slot: number, batchPtr: number, start: number, end: number): number;
  harvestBit(slot: number, bitmapPtr: number, bit: number): number;
  ptesUpdate(slot: number, bitmapPtr: number, op: number): number;
  pageSetState(slot: number, gfn: number, op: number, arg: bigint, srcPtr: number): number;

  bitmapScan(bitmapPtr: number, words: number, outPtr: number, firstIndex: number): number;
  bitmapCount(bitmapPtr: number, words: number): number;
  bitmapOr(dstPtr: number, srcPtr: number, words: number): void;
  bitmapAndNot(dstPtr: number, srcPtr: number, words: number): void;

  pageCopy(dstPtr: number, srcPtr: number, len: number): void;
  isZeroPage(ptr: number, len: number): number;
  pageCompare(aPtr: number, bPtr: number, len: number): number;
  xorParity(dstPtr: number, listPtr: number, k: number, len: number): void;
  hash64(ptr: number, len: number, seed: bigint): bigint;
  hashPages(srcPtr: number, pageBytes: number, count: number, outPtr: number): void;
  xxh3(ptr: number, len: number): bigint;
  xbzrleEncode(oldPtr: number, newPtr: number, slen: number, dstPtr: number, dlen: number): number;
  xbzrleDecode(srcPtr: number, slen: number, dstPtr: number, dlen: number): number;

  workloadInit(
    descPtr: number, kind: number, seed: bigint, firstPage: bigint, pageCount: bigint,
    writeFraction: number, accessBytes: number, p1: number, p2: number,
  ): number;
  workloadGenerate(descPtr: number, outPtr: number, count: number): void;
  traceValidate(ptr: number, count: number, guestPages: bigint): number;

  streamPack(
    slot: number, listPtr: number, count: number, outPtr: number, capacity: number,
    cacheMetaPtr: number, cachePagesPtr: number, cacheSlots: number, stage: number, generation: number, hashState: number,
  ): number;
  streamUnpack(slot: number, ptr: number, len: number, offset: number, flags: number, tablePtr: number): number;
  streamPoisonList(slot: number, outPtr: number, max: number, fromPfn: number): number;
  getStreamInfoPtr(): number;
  getPackStatsPtr(): number;
  xxh3StreamBegin(statePtr: number, basePtr: number): void;
  xxh3StreamCopyPage(statePtr: number, dstPtr: number, srcPtr: number): void;
  xxh3StreamFinish(statePtr: number, basePtr: number, len: number): bigint;

  pageFingerprints(slot: number, firstPfn: number, count: number, outPtr: number, tablePtr: number): number;
  getFingerprintPoisoned(): number;
  digestStart(guestPages: bigint): bigint;
  digestFold(acc: bigint, ptr: number, count: number): bigint;
  digestFinish(acc: bigint): bigint;
  fingerprintTableInit(tablePtr: number, pages: number): void;

  reserveFrame(hfn: number): number;
  retireFrame(hfn: number): void;
  frameUpdateFlags(hfn: number, set: number, clear: number): void;
  guestPagesRead(slot: number, first: number, count: number, outPtr: number): number;
  guestPagesCheck(slot: number, first: number, count: number): number;
  guestPagesWrite(slot: number, first: number, count: number, srcPtr: number, hashPtr: number): number;
  getGuestPagesRefused(): number;
  gatherPages(slot: number, pfnPtr: number, count: number, outPtr: number, zeroPtr: number): number;
  // overcommit (issue 15): balloon moves by the list (assembly/balloon.ts).
  balloonSweep(slot: number, from: number, want: number, exclude: number, referencedPtr: number, balloonedPtr: number, outPtr: number): number;
  balloonTake(slot: number, pfnPtr: number, count: number, balloonedPtr: number, framesOutPtr: number): number;
  balloonGive(slot: number, pfnPtr: number, count: number, framesPtr: number, frameCount: number, balloonedPtr: number): number;
  balloonRelease(slot: number, framesPtr: number, count: number): number;
  balloonFreeFirst(slot: number, bitmapPtr: number, words: number, max: number, outPtr: number): number;
  bitmapFirst(bitmapPtr: number, words: number, max: number, outPtr: number): number;
  getBalloonFailedAt(): number;
  getBalloonHand(): number;
  xxh3Pages(srcPtr: number, count: number, outPtr: number): void;
  swapInVerified(slot: number, pfnPtr: number, hashPtr: number, srcPtr: number, count: number, okPtr: number): number;

  readonly [abiConstant: `ABI_${string}`]: WebAssembly.Global;
}
