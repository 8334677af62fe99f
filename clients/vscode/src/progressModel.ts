// Work-done progress values (LSP `$/progress`) turned into what a VS Code
// progress notification takes: a message and an increment, since VS Code
// adds increments while LSP sends absolute percentages.

export interface ProgressValue {
  readonly message?: string;
  readonly percentage?: number;
}

export class ProgressModel {
  private done = 0;

  /** The step to report for `value`; a percentage never goes backwards. */
  step(value: ProgressValue): { message?: string; increment?: number } {
    const out: { message?: string; increment?: number } = {};
    if (value.message !== undefined) out.message = value.message;
    if (value.percentage !== undefined) {
      const pct = Math.min(100, Math.max(0, value.percentage));
      if (pct > this.done) {
        out.increment = pct - this.done;
        this.done = pct;
      }
    }
    return out;
  }
}
