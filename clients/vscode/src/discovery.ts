// Finding the `codegenie` server binary, in the order rust-analyzer's client
// uses: the `codegenie.server.path` setting, then a binary bundled inside the
// extension (`server/<platform>-<arch>/codegenie`), then `codegenie` on PATH.
// Each candidate is checked with `--version` before it is used.
//
// No `vscode` import here: the logic is unit-tested under plain Node.

import { execFile } from "node:child_process";
import * as os from "node:os";
import * as path from "node:path";

export type CandidateSource = "setting" | "bundled" | "path";

export interface Candidate {
  readonly source: CandidateSource;
  readonly command: string;
}

export interface DiscoveryInput {
  /** `codegenie.server.path`, possibly empty. */
  readonly settingPath?: string;
  /** The extension's install folder. */
  readonly extensionPath: string;
  readonly platform: NodeJS.Platform;
  readonly arch: string;
  readonly homeDir?: string;
}

export interface Found {
  readonly candidate: Candidate;
  readonly version: string;
}

export interface Rejected {
  readonly candidate: Candidate;
  readonly reason: string;
}

export interface DiscoveryResult {
  readonly found?: Found;
  readonly rejected: readonly Rejected[];
}

/** Prints the version of `command`, or throws with a reason. */
export type Probe = (command: string) => Promise<string>;

export function executableName(platform: NodeJS.Platform): string {
  return platform === "win32" ? "codegenie.exe" : "codegenie";
}

/** Expands a leading `~` to the home folder. */
export function expandHome(p: string, homeDir: string = os.homedir()): string {
  if (p === "~") return homeDir;
  if (p.startsWith("~/") || p.startsWith("~\\")) return path.join(homeDir, p.slice(2));
  return p;
}

/** The candidates, in the order they are tried. */
export function candidates(input: DiscoveryInput): Candidate[] {
  const exe = executableName(input.platform);
  const list: Candidate[] = [];
  const setting = input.settingPath?.trim();
  if (setting) {
    list.push({ source: "setting", command: expandHome(setting, input.homeDir) });
  }
  list.push({
    source: "bundled",
    command: path.join(input.extensionPath, "server", `${input.platform}-${input.arch}`, exe),
  });
  list.push({ source: "path", command: exe });
  return list;
}

/**
 * The first candidate whose probe answers, with the reasons the others were
 * rejected. When the setting names a binary that does not work, discovery
 * stops there: silently running another binary than the configured one would
 * hide the mistake.
 */
export async function discover(list: readonly Candidate[], probe: Probe): Promise<DiscoveryResult> {
  const rejected: Rejected[] = [];
  for (const candidate of list) {
    try {
      const version = await probe(candidate.command);
      return { found: { candidate, version }, rejected };
    } catch (e) {
      rejected.push({ candidate, reason: e instanceof Error ? e.message : String(e) });
      if (candidate.source === "setting") break;
    }
  }
  return { rejected };
}

/** `codegenie 1.2.3` → `1.2.3`; anything else is not our server. */
export function parseVersion(stdout: string): string | undefined {
  const m = /^codegenie\s+(\S+)/m.exec(stdout.trim());
  return m?.[1];
}

/** Runs `command --version` with a timeout. */
export function versionProbe(timeoutMs = 5000): Probe {
  return (command) =>
    new Promise((resolve, reject) => {
      execFile(command, ["--version"], { timeout: timeoutMs, windowsHide: true }, (error, stdout) => {
        if (error) {
          const code = (error as NodeJS.ErrnoException).code;
          reject(new Error(code === "ENOENT" ? "not found" : error.killed ? `no answer within ${timeoutMs} ms` : error.message.split("\n")[0]));
          return;
        }
        const version = parseVersion(stdout);
        if (version) resolve(version);
        else reject(new Error(`\`--version\` printed ${JSON.stringify(stdout.trim().slice(0, 80))}, not \`codegenie X.Y.Z\``));
      });
    });
}

export function describe(c: Candidate): string {
  switch (c.source) {
    case "setting":
      return `codegenie.server.path (${c.command})`;
    case "bundled":
      return `bundled (${c.command})`;
    case "path":
      return `${c.command} on PATH`;
  }
}
