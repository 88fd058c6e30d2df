// The oracle of src/balloon/allocation.ts: min-funding revocation page by page,
// as Waldspurger describes it. Every VM starts at its maximum; while more is
// allocated than available, one page is taken from the VM with the lowest
// ρ = S / (P (f + k (1 − f))) that is above its minimum (on a tie, the higher
// index). Slow and plain on purpose.
export interface OracleVm {
  readonly shares: number;
  readonly activeFraction: number;
  readonly minPages: number;
  readonly maxPages: number;
}

export function revokeByLowestRho(vms: readonly OracleVm[], availablePages: number, idleTax: number): number[] {
  const k = 1 / (1 - idleTax);
  const cost = vms.map((v) => v.activeFraction + k * (1 - v.activeFraction));
  const pages = vms.map((v) => v.maxPages);
  let total = pages.reduce((a, b) => a + b, 0);
  while (total > availablePages) {
    let victim = -1;
    let lowest = Infinity;
    for (let i = 0; i < vms.length; i++) {
      if (pages[i] <= vms[i].minPages) continue;
      const rho = vms[i].shares / (pages[i] * cost[i]);
      if (rho <= lowest) {
        lowest = rho;
        victim = i;
      }
    }
    if (victim < 0) break;
    pages[victim]--;
    total--;
  }
  return pages;
}
