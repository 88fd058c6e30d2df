// Status codes returned by kernels: >= 0 is success (often a count or index),
// a negative value is -code. src/errors.ts maps each code to a HypermemError
// string code; test/abi.test.ts checks that both sides agree.

// @ts-ignore: decorator
@inline export const OK: i32 = 0;
/** No free host frame and the host may not grow further. */
// @ts-ignore: decorator
@inline export const ERR_OUT_OF_FRAMES: i32 = 1;
/** memory.grow failed (the engine refused more linear memory). */
// @ts-ignore: decorator
@inline export const ERR_MEMORY_GROW: i32 = 2;
/** A guest frame number past the end of the guest. */
// @ts-ignore: decorator
@inline export const ERR_GFN_RANGE: i32 = 3;
/** The page is in a state the operation cannot handle (poisoned, swapped...). */
// @ts-ignore: decorator
@inline export const ERR_PAGE_STATE: i32 = 4;
/** An access record in a batch is malformed (length 0 or > 4096, crosses a page). */
// @ts-ignore: decorator
@inline export const ERR_BAD_ACCESS: i32 = 5;
