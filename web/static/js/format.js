// Times and sizes as people read them.

/** 75.25 -> "1:15.3"; 3725 -> "1:02:05.0" (tenths of a second: moments are short). */
export function clock(t_s) {
  if (t_s === null || t_s === undefined || !Number.isFinite(t_s)) return "–";
  const tenths = Math.round(Math.max(0, t_s) * 10);
  const h = Math.floor(tenths / 36000);
  const m = Math.floor((tenths % 36000) / 600);
  const s = ((tenths % 600) / 10).toFixed(1).padStart(4, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** A span "0:07.0–0:14.2". */
export function span(start_s, end_s) {
  return `${clock(start_s)}–${clock(end_s)}`;
}

/** 3725 -> "1:02:05"; 14.2 -> "0:14". */
export function duration(duration_s) {
  if (duration_s === null || duration_s === undefined) return "–";
  const total = Math.round(duration_s);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** An ISO date as "21 Nov 2026, 10:48" in the reader's locale. */
export function when(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function percent(fraction) {
  return `${Math.round(Math.min(1, Math.max(0, fraction)) * 100)} %`;
}
