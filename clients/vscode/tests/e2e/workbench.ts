// Drives a real VS Code (code-server in Debian's Chromium) through
// playwright-core: the palette, quick picks, input boxes, notifications,
// editors and the status bar, the way a person uses them.

import { chromium, type BrowserContext, type FrameLocator, type Locator, type Page } from "playwright-core";
import { mkdirSync, readFileSync } from "node:fs";
import * as path from "node:path";

const CHROMIUM_FLAGS = [
  "--headless=new",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
];

export interface WorkbenchOptions {
  readonly url: string;
  readonly folder: string;
  readonly browserProfile: string;
  readonly artifacts: string;
  readonly chromium?: string;
}

export class Workbench {
  private constructor(
    private readonly context: BrowserContext,
    readonly page: Page,
    private readonly artifacts: string,
  ) {}

  static async open(o: WorkbenchOptions): Promise<Workbench> {
    const context = await chromium.launchPersistentContext(o.browserProfile, {
      executablePath: o.chromium ?? "/usr/bin/chromium",
      headless: true,
      args: CHROMIUM_FLAGS,
      viewport: { width: 1280, height: 800 },
    });
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(`${o.url}/?folder=${encodeURIComponent(o.folder)}`);
    // A loaded 2-core machine can take minutes to bring the workbench up.
    await page.locator(".monaco-workbench").waitFor({ state: "visible", timeout: 240_000 });
    mkdirSync(o.artifacts, { recursive: true });
    return new Workbench(context, page, o.artifacts);
  }

  async close(): Promise<void> {
    await this.context.close();
  }

  async screenshot(name: string): Promise<string> {
    const file = path.join(this.artifacts, `${name}.png`);
    await this.page.screenshot({ path: file });
    return file;
  }

  /**
   * The active editor group. An explanation preview opens in a second group
   * and takes the focus, so "the editor" is the one of the active group, not
   * the first in the page.
   */
  get activeGroup(): Locator {
    return this.page.locator(".editor-group-container.active");
  }

  /** The text editor of the active group. */
  get activeEditor(): Locator {
    return this.activeGroup.locator(".editor-instance .monaco-editor").first();
  }

  get quickInput(): Locator {
    return this.page.locator(".quick-input-widget");
  }

  /** The rows of the open quick pick, by accessible label. */
  async quickPickLabels(): Promise<string[]> {
    const rows = this.quickInput.locator(".monaco-list-row:visible");
    await rows.first().waitFor({ state: "visible", timeout: 30_000 });
    return (await rows.evaluateAll((els) => els.map((e) => e.getAttribute("aria-label") ?? e.textContent ?? ""))).map((s) => s.trim());
  }

  async typeInQuickInput(text: string): Promise<void> {
    const input = this.quickInput.locator("input").first();
    await input.waitFor({ state: "visible", timeout: 30_000 });
    await input.fill(text);
  }

  async pressEnter(): Promise<void> {
    await this.page.keyboard.press("Enter");
  }

  async escape(): Promise<void> {
    await this.page.keyboard.press("Escape");
    await this.quickInput.waitFor({ state: "hidden", timeout: 5_000 }).catch(() => undefined);
  }

  /**
   * Opens the palette on `title` and waits for the matching row. The list is
   * fixed when the palette opens, and commands of an extension host that is
   * still starting are missing: close and reopen until the row appears.
   */
  async findCommand(title: string, timeoutMs = 120_000): Promise<Locator> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await this.focusWorkbench();
      await this.page.keyboard.press("F1");
      const row = this.quickInput.locator(".monaco-list-row", { hasText: title }).first();
      try {
        await this.quickInput.locator("input").first().waitFor({ state: "visible", timeout: 5_000 });
        await this.typeInQuickInput(`>${title}`);
        await row.waitFor({ state: "visible", timeout: 3_000 });
        return row;
      } catch {
        await this.escape();
        if (Date.now() > deadline) throw new Error(`the command palette has no "${title}" after ${timeoutMs / 1000}s`);
        await this.page.waitForTimeout(2_000);
      }
    }
  }

  /**
   * Takes the keyboard focus out of a webview (the markdown preview), whose
   * frame would otherwise receive the keys meant for the workbench.
   */
  async focusWorkbench(): Promise<void> {
    // Runs in the page (no DOM types here).
    await this.page.evaluate(() => {
      const doc = (globalThis as unknown as { document: { activeElement: { tagName?: string; blur?: () => void } | null } }).document;
      if (doc.activeElement?.tagName === "IFRAME") doc.activeElement.blur?.();
    });
  }

  /** Clicks into the text of the active group's editor and checks it has the focus. */
  async focusActiveEditor(): Promise<void> {
    // Near the top left of the text area, wherever the lines are scrolled to.
    await this.activeEditor.locator(".overflow-guard").click({ position: { x: 100, y: 8 } });
    const focused = await this.activeEditor.evaluate((el) => {
      const doc = (globalThis as unknown as { document: { activeElement: unknown } }).document;
      return (el as unknown as { contains: (n: unknown) => boolean }).contains(doc.activeElement);
    });
    if (!focused) throw new Error("the editor of the active group did not take the focus");
  }

  async runCommand(title: string, timeoutMs?: number): Promise<void> {
    const row = await this.findCommand(title, timeoutMs);
    await row.click();
  }

  /** Opens a workspace file by name through Quick Open; returns its editor. */
  async openFile(name: string): Promise<Locator> {
    await this.page.keyboard.press("Control+P");
    await this.typeInQuickInput(name);
    await this.quickInput.locator(".monaco-list-row", { hasText: name }).first().waitFor({ state: "visible", timeout: 30_000 });
    await this.pressEnter();
    await this.activeGroup.locator(".tabs-container .tab.active", { hasText: name }).waitFor({ state: "visible", timeout: 30_000 });
    await this.activeEditor.waitFor({ state: "visible", timeout: 30_000 });
    return this.activeEditor;
  }

  /** The text of the visible lines of the active editor. */
  async editorText(): Promise<string> {
    const lines = this.activeEditor.locator(".view-lines .view-line");
    const items = await lines.evaluateAll((els) =>
      els
        .map((e) => ({ top: parseFloat((e as unknown as { style: { top: string } }).style.top || "0"), text: (e.textContent ?? "").replace(/\u00a0/g, " ") }))
        .sort((a, b) => a.top - b.top)
        .map((l) => l.text),
    );
    return items.join("\n");
  }

  /** Clicks into the active editor and moves the cursor to a line (1-based). */
  async goToLine(line: number): Promise<void> {
    await this.focusActiveEditor();
    await this.page.keyboard.press("Control+G");
    await this.typeInQuickInput(`:${line}`);
    await this.pressEnter();
  }

  /**
   * Replaces the user settings through the settings.json editor, the way a
   * person edits them (an external write is not always noticed at once), and
   * checks that `file` (the settings.json on disk) then holds them.
   */
  async writeUserSettings(json: string, file: string): Promise<void> {
    await this.runCommand("Preferences: Open User Settings (JSON)");
    const tab = this.activeGroup.locator(".tabs-container .tab.active", { hasText: "settings.json" });
    await tab.waitFor({ state: "visible", timeout: 30_000 });
    await this.focusActiveEditor();
    await this.page.keyboard.press("Control+A");
    await this.page.keyboard.press("Delete");
    await this.page.keyboard.insertText(json);
    await this.page.keyboard.press("Control+S");
    await this.page.locator(".tabs-container .tab.dirty", { hasText: "settings.json" }).waitFor({ state: "detached", timeout: 10_000 });
    const deadline = Date.now() + 10_000;
    while (!sameJson(readFileSync(file, "utf8"), json)) {
      if (Date.now() > deadline) throw new Error(`settings.json on disk is not what was typed into its editor:\n${readFileSync(file, "utf8")}`);
      await this.page.waitForTimeout(200);
    }
    await this.runCommand("View: Close Editor");
  }

  /**
   * The document shown by the visible markdown preview (a webview: an iframe
   * holding the frame with the rendered page).
   */
  markdownPreview(): FrameLocator {
    return this.page.locator("iframe.webview.ready").filter({ visible: true }).last().contentFrame().locator("#active-frame").contentFrame();
  }

  /** A status bar item contributed by an extension, by `<extension id>.<item id>`. */
  statusItem(id: string, text: string): Locator {
    return this.page.locator(`#workbench\\.parts\\.statusbar .statusbar-item[id="${id}"]`, { hasText: text });
  }

  /** The first notification toast whose text matches. */
  notification(text: string | RegExp): Locator {
    return this.page.locator(".notifications-toasts .notification-toast", { hasText: text }).first();
  }

  /**
   * Wait until a message was shown: as a toast, or in the notification
   * centre when VS Code holds toasts back (do-not-disturb, or a toast
   * shown while the palette had the focus).
   */
  async messageShown(text: string | RegExp, timeout = 30_000): Promise<void> {
    try {
      await this.notification(text).waitFor({ state: "visible", timeout: 5_000 });
      return;
    } catch {
      // Look in the notification centre.
    }
    await this.runCommand("Notifications: Show Notifications");
    const item = this.page.locator(".notifications-center .notification-list-item", { hasText: text }).first();
    await item.waitFor({ state: "visible", timeout });
    await this.runCommand("Notifications: Hide Notifications").catch(() => undefined);
  }

  async clearNotifications(): Promise<void> {
    await this.runCommand("Notifications: Clear All Notifications").catch(() => undefined);
  }
}

function sameJson(a: string, b: string): boolean {
  try {
    return JSON.stringify(JSON.parse(a)) === JSON.stringify(JSON.parse(b));
  } catch {
    return false;
  }
}
