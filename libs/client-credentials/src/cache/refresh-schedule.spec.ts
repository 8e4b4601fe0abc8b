import { FIRE_PER_TURN, RefreshSchedule, type Scheduled } from './refresh-schedule';

interface Item extends Scheduled {
  name: string;
}

const item = (name: string): Item => ({ name, slot: -1 });

describe('RefreshSchedule', () => {
  beforeEach(() => jest.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => jest.useRealTimers());

  it('fires every item once, in due order, on one timer', () => {
    const fired: string[] = [];
    const schedule = new RefreshSchedule<Item>((i) => fired.push(i.name));
    const now = Date.now();
    // 1,000 items due in a shuffled order.
    const items = Array.from({ length: 1000 }, (_, k) => item(String((k * 7919) % 1000)));
    for (const i of items) schedule.set(i, now + 1000 + Number(i.name));
    expect(jest.getTimerCount()).toBe(1);
    jest.advanceTimersByTime(2000);
    expect(fired).toEqual(Array.from({ length: 1000 }, (_, k) => String(k)));
    expect(schedule.size).toBe(0);
    expect(items.every((i) => i.slot === -1)).toBe(true);
    expect(jest.getTimerCount()).toBe(0);
  });

  it(`fires items due together ${FIRE_PER_TURN} per turn of the timer, each once, in order`, () => {
    const fired: string[] = [];
    const turns: number[] = [];
    const schedule = new RefreshSchedule<Item>((i) => fired.push(i.name));
    const at = Date.now() + 1000;
    const items = Array.from({ length: 1000 }, (_, k) => item(String(k).padStart(4, '0')));
    for (const i of items) schedule.set(i, at);
    jest.advanceTimersByTime(1000);
    expect(fired).toHaveLength(FIRE_PER_TURN);
    // The rest, due already, on the next turns: one timer at a time, never a loop over all.
    while (schedule.size > 0) {
      const before = fired.length;
      expect(jest.getTimerCount()).toBe(1);
      jest.advanceTimersToNextTimer();
      turns.push(fired.length - before);
    }
    expect(turns.every((n) => n > 0 && n <= FIRE_PER_TURN)).toBe(true);
    expect(new Set(fired).size).toBe(1000);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('forgets a deleted item, and moves one set again', () => {
    const fired: string[] = [];
    const schedule = new RefreshSchedule<Item>((i) => fired.push(i.name));
    const now = Date.now();
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map(item);
    schedule.set(a, now + 100);
    schedule.set(b, now + 200);
    schedule.set(c, now + 300);
    schedule.set(d, now + 400);
    schedule.delete(a);
    schedule.delete(a); // twice: nothing
    schedule.set(d, now + 50); // earlier
    schedule.set(b, now + 500); // later
    expect(a.slot).toBe(-1);
    jest.advanceTimersByTime(350);
    expect(fired).toEqual(['d', 'c']);
    jest.advanceTimersByTime(200);
    expect(fired).toEqual(['d', 'c', 'b']);
  });

  it('keeps the heap order through deletions anywhere', () => {
    const fired: number[] = [];
    const schedule = new RefreshSchedule<Item>((i) => fired.push(Number(i.name)));
    const now = Date.now();
    const items = Array.from({ length: 200 }, (_, k) => item(String(k)));
    for (const i of [...items].reverse()) schedule.set(i, now + 10 + Number(i.name));
    for (let k = 0; k < 200; k += 3) schedule.delete(items[k]);
    jest.advanceTimersByTime(1000);
    expect(fired).toEqual(items.map((_, k) => k).filter((k) => k % 3 !== 0));
  });

  it('fires the rest of a batch when one throws, and keeps its timer', () => {
    const fired: string[] = [];
    const schedule = new RefreshSchedule<Item>((i) => {
      fired.push(i.name);
      if (i.name === 'a') throw new Error('bug');
    });
    const now = Date.now();
    for (const [name, at] of [
      ['a', 10],
      ['b', 10],
      ['c', 10],
      ['later', 500],
    ] as const) {
      schedule.set(item(name), now + at);
    }
    expect(() => jest.advanceTimersByTime(100)).toThrow('bug');
    expect(fired).toEqual(['a', 'b', 'c']);
    jest.advanceTimersByTime(500);
    expect(fired).toEqual(['a', 'b', 'c', 'later']);
  });

  it('fires an item set again from its own firing on the next turn, not in a loop', () => {
    let fired = 0;
    const schedule: RefreshSchedule<Item> = new RefreshSchedule<Item>((i) => {
      fired++;
      schedule.set(i, Date.now()); // due at once, again
    });
    schedule.set(item('x'), Date.now());
    jest.runOnlyPendingTimers();
    expect(fired).toBe(1);
    jest.runOnlyPendingTimers();
    expect(fired).toBe(2);
    schedule.close();
    expect(jest.getTimerCount()).toBe(0);
  });

  it('waits past the longest timer delay in steps, and stops on close', () => {
    const fired: string[] = [];
    const schedule = new RefreshSchedule<Item>((i) => fired.push(i.name));
    const far = item('far');
    // 40 days: longer than a Node timer can wait (it would fire at once).
    schedule.set(far, Date.now() + 40 * 86_400_000);
    jest.advanceTimersByTime(2 ** 31);
    expect(fired).toEqual([]);
    jest.advanceTimersByTime(40 * 86_400_000);
    expect(fired).toEqual(['far']);
    const late = item('late');
    schedule.set(late, Date.now() + 10);
    schedule.close();
    expect(late.slot).toBe(-1);
    schedule.set(item('after'), Date.now());
    jest.advanceTimersByTime(100);
    expect(fired).toEqual(['far']);
    expect(jest.getTimerCount()).toBe(0);
  });
});
