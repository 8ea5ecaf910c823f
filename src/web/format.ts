/** Small formatting helpers for the page. */

/** "2024-05-01 12:00:03" in UTC: nodes and people across time zones compare the same text. */
export function utc(iso: string): string {
  return iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, '');
}

/** "0.95" */
export function score(value: number | null | undefined): string {
  return value === null || value === undefined ? '–' : value.toFixed(2);
}

/** Seconds with one decimal: "2.4 s". */
export function seconds(value: number): string {
  return `${value.toFixed(1)} s`;
}

/** Bytes as "12.3 GB" / "450 MB" / "3 kB". */
export function bytes(value: number | null | undefined): string {
  if (value === null || value === undefined) return '–';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = value;
  let unit = 0;
  while (v >= 1000 && unit < units.length - 1) {
    v /= 1000;
    unit += 1;
  }
  return `${v >= 100 || unit === 0 ? v.toFixed(0) : v.toFixed(1)} ${units[unit]}`;
}

/** A label name for people: "glass_break" → "glass break". */
export function labelName(label: string): string {
  return label.replace(/_/g, ' ');
}

/** A stable colour per label (the chart and the badges agree). */
export function labelColour(label: string): string {
  const fixed: Record<string, string> = {
    gunshot: '#c0392b',
    explosion: '#d35400',
    glass_break: '#8e44ad',
    scream: '#e84393',
    speech: '#2980b9',
    dog_bark: '#16a085',
    car_horn: '#b7950b',
    siren: '#2c3e50',
    door_knock: '#7f8c8d',
    music: '#27ae60',
  };
  if (fixed[label]) return fixed[label];
  let hash = 0;
  for (const c of label) hash = (hash * 31 + c.charCodeAt(0)) >>> 0;
  return `hsl(${hash % 360} 55% 42%)`;
}

/** ISO time for an <input type="datetime-local"> value taken as UTC ("" → undefined). */
export function fromLocalInput(value: string): string | undefined {
  return value ? new Date(`${value}:00Z`).toISOString() : undefined;
}
