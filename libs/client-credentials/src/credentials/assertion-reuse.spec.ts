import { AssertionReuse } from './assertion-reuse';

describe('AssertionReuse', () => {
  beforeEach(() => jest.useFakeTimers({ now: 1_700_000_000_000 }));
  afterEach(() => jest.useRealTimers());

  const counting = () => {
    let n = 0;
    const sign = jest.fn(async () => `assertion-${++n}`);
    return sign;
  };

  it('reuses one assertion per audience for its window, then signs anew', async () => {
    const reuse = new AssertionReuse(300_000);
    const sign = counting();
    expect(await reuse.get('t1', sign)).toBe('assertion-1');
    jest.advanceTimersByTime(299_999);
    expect(await reuse.get('t1', sign)).toBe('assertion-1');
    jest.advanceTimersByTime(1);
    expect(await reuse.get('t1', sign)).toBe('assertion-2');
    expect(sign).toHaveBeenCalledTimes(2);
  });

  it('signs once per audience however many ask at once; audiences never share', async () => {
    const reuse = new AssertionReuse(300_000);
    const sign = counting();
    const got = await Promise.all([
      reuse.get('t1', sign),
      reuse.get('t1', sign),
      reuse.get('t2', sign),
      reuse.get('t1', sign),
    ]);
    expect(got).toEqual(['assertion-1', 'assertion-1', 'assertion-2', 'assertion-1']);
    expect(sign).toHaveBeenCalledTimes(2);
  });

  it('keeps no failed signature: the next caller signs again', async () => {
    const reuse = new AssertionReuse(300_000);
    const failing = jest.fn(async () => Promise.reject(new Error('HSM busy')));
    await expect(reuse.get('t1', failing)).rejects.toThrow('HSM busy');
    expect(await reuse.get('t1', async () => 'ok')).toBe('ok');
  });

  it('hands out nothing again after clear() (an authority refused one)', async () => {
    const reuse = new AssertionReuse(300_000);
    const sign = counting();
    await reuse.get('t1', sign);
    reuse.clear();
    expect(await reuse.get('t1', sign)).toBe('assertion-2');
  });

  it('keeps at most maxEntries audiences, dropping the oldest', async () => {
    const reuse = new AssertionReuse(300_000, 2);
    const sign = counting();
    await reuse.get('a', sign);
    await reuse.get('b', sign);
    await reuse.get('c', sign);
    expect(await reuse.get('b', sign)).toBe('assertion-2');
    expect(await reuse.get('a', sign)).toBe('assertion-4');
  });
});
