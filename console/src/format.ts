/** Money is micro-dollars (1 USD = 1,000,000) everywhere in the API. */
export function dollars(micros: number | null | undefined): string {
  if (micros === null || micros === undefined) return '—';
  const value = micros / 1_000_000;
  return `$${value.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: value !== 0 && Math.abs(value) < 0.1 ? 4 : 2 })}`;
}

/** Dollars typed by a person, as micro-dollars; null when it is not an amount. */
export function microsFrom(text: string): number | null {
  const trimmed = text.trim().replace(/^\$/, '');
  if (!/^\d+(\.\d{1,6})?$/.test(trimmed)) return null;
  const [whole, fraction = ''] = trimmed.split('.');
  return Number(whole) * 1_000_000 + Number(fraction.padEnd(6, '0'));
}

export function when(seconds: number | null | undefined): string {
  if (!seconds) return '—';
  return new Date(seconds * 1000).toLocaleString();
}
