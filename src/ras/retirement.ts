// The warning a host gives when its retired frames near the limit it was
// configured with: amdgpu warns once retirements pass 90 % of
// bad_page_threshold (and stops using the GPU past 100 %); the WHEA page
// offlining and rasdaemon keep a count an operator watches the same way.

/** Retirements above this share of the limit give a warning (amdgpu). */
export const RETIRED_WARN_FRACTION = 0.9;

/** The warning for `count` retired frames against `limit`, or null below 90 % (or without a limit). */
export function retirementWarning(count: number, limit: number | null): string | null {
  if (limit === null || count <= RETIRED_WARN_FRACTION * limit) return null;
  const pct = Math.round((100 * count) / limit);
  const past = count >= limit ? "at or past the limit" : "past 90 % of the limit";
  return `${count} retired frames of a limit of ${limit} (${pct} %): ${past}; the memory is failing, replace it (then clear the store)`;
}
