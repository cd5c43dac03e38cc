/**
 * The frame a tier and aspect ratio imply: the short side is the tier (720p → 720), the
 * long side follows the ratio, both even because yuv420p needs it (16:9 at 480p → 854×480).
 */
export function frameSize(shortSide: number, ratioWidth: number, ratioHeight: number): { width: number; height: number } {
  const even = (value: number) => Math.max(2, Math.round(value / 2) * 2);
  if (ratioWidth >= ratioHeight) return { width: even((shortSide * ratioWidth) / ratioHeight), height: even(shortSide) };
  return { width: even(shortSide), height: even((shortSide * ratioHeight) / ratioWidth) };
}
