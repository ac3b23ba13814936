/** Polls until `fn` gives a value (not undefined, null or false), or fails naming what it waited for. */
export async function until<T>(
  what: string,
  fn: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  opts: { timeoutMs?: number; intervalMs?: number; explain?: () => string } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== null && v !== false) return v;
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${opts.explain ? `\n${opts.explain()}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 100));
  }
}

/** `until` as a story calls it (`what`, a timeout, the check), explaining a timeout with `explain()`. */
export function untilExplained(explain: () => string, intervalMs: number) {
  return <T>(
    what: string,
    timeoutMs: number,
    fn: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  ): Promise<T> => until(what, fn, { timeoutMs, intervalMs, explain });
}
