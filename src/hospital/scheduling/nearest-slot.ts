/** A free Slot of one of the doctor's Schedules, in epoch ms. */
export interface FreeSlot {
  id: string;
  schedule: string;
  start: number;
  end: number;
}

/** A time an actor of the appointment is already booked, [start, end) in epoch ms. */
export interface BusyPeriod {
  start: number;
  end: number;
}

export interface SlotProposal {
  start: number;
  end: number;
  /** The slots the proposal covers (one, or several back to back of one schedule). */
  slotIds: string[];
}

/**
 * The nearest free time for an appointment of the requested duration: candidates start where a
 * free slot starts; a candidate must be covered by back-to-back free slots of one schedule
 * (a 30-minute visit may take two 15-minute slots) and overlap no busy period of any participant
 * (back to back is fine). Nearest by |candidate start − requested start|; a tie goes to the earlier.
 * The requested time itself is never proposed (it is the one in conflict), nor a time before
 * `notBefore` (now: a slot that has begun can no longer be attended, however near it is).
 */
export function nearestFreeSlot(
  requested: { start: number; end: number },
  slots: readonly FreeSlot[],
  busy: readonly BusyPeriod[],
  notBefore = Number.NEGATIVE_INFINITY,
): SlotProposal | undefined {
  const duration = requested.end - requested.start;
  const bySchedule = new Map<string, FreeSlot[]>();
  for (const s of slots) {
    if (!(s.end > s.start)) continue;
    const list = bySchedule.get(s.schedule) ?? [];
    list.push(s);
    bySchedule.set(s.schedule, list);
  }
  const candidates: SlotProposal[] = [];
  for (const list of bySchedule.values()) {
    list.sort((a, b) => a.start - b.start || a.end - b.end);
    for (let i = 0; i < list.length; i++) {
      const start = list[i].start;
      const end = start + duration;
      if (start === requested.start || start < notBefore) continue;
      const covering = cover(list, i, end);
      if (!covering) continue;
      if (busy.some((b) => b.start < end && start < b.end)) continue;
      candidates.push({ start, end, slotIds: covering });
    }
  }
  candidates.sort((a, b) => Math.abs(a.start - requested.start) - Math.abs(b.start - requested.start) || a.start - b.start);
  return candidates[0];
}

/** The ids of the back-to-back slots from list[i] that reach `end`, or undefined. */
function cover(list: readonly FreeSlot[], i: number, end: number): string[] | undefined {
  const ids = [list[i].id];
  let reached = list[i].end;
  for (let j = i + 1; reached < end && j < list.length; j++) {
    if (list[j].start > reached) return undefined;
    if (list[j].start === reached) {
      ids.push(list[j].id);
      reached = list[j].end;
    }
  }
  return reached >= end ? ids : undefined;
}
