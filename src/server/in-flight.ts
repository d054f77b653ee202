/** Counts requests between acceptance and reply, so shutdown can wait for them. */
export class InFlight {
  private count = 0;
  private idle: (() => void) | null = null;

  begin(): () => void {
    this.count++;
    return () => {
      if (--this.count === 0 && this.idle !== null) this.idle();
    };
  }

  get pending(): number {
    return this.count;
  }

  /** Resolves when nothing is in flight, or after timeoutMs; true if drained. */
  drain(timeoutMs: number): Promise<boolean> {
    if (this.count === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.idle = null;
        resolve(false);
      }, timeoutMs);
      this.idle = () => {
        clearTimeout(timer);
        this.idle = null;
        resolve(true);
      };
    });
  }
}
